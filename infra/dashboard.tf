# The operator's dashboard: throughput, failures by code, stage and end-to-end latency, tokens and
# estimated spend per model, the queues, the functions' errors and throttles, search latency per mode.
# Quarry's own metrics come from chalicelib/metrics.py (EMF lines in the functions' logs); each has the
# dimensions service and stage, and metrics with one more dimension (ErrorCode, Stage, Model,
# Provider, Mode) are charted with SEARCH so a new error code or model shows up without a change here.
# tests/infra/test_dashboard.py checks this against chalicelib/metrics.METRICS both ways.

locals {
  dashboard = {
    widgets = [
      {
        type   = "metric"
        x      = 0
        y      = 0
        width  = 12
        height = 6
        properties = {
          title   = "Documents indexed, failed, skipped (per 5 min)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            ["Quarry", "DocumentsIndexed", "service", "quarry", "stage", local.chalice_stage],
            ["Quarry", "DocumentsFailed", "service", "quarry", "stage", local.chalice_stage],
            ["Quarry", "DocumentsSkipped", "service", "quarry", "stage", local.chalice_stage]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 0
        width  = 12
        height = 6
        properties = {
          title   = "Failures by error code"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            [{ expression = "SEARCH('{Quarry,service,stage,ErrorCode} MetricName=\"DocumentsFailed\" stage=\"${local.chalice_stage}\"', 'Sum', 300)", id = "failed" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 6
        width  = 12
        height = 6
        properties = {
          title   = "Stage latency p50 / p95 (ms)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            [{ expression = "SEARCH('{Quarry,service,stage,Stage} MetricName=\"StageLatency\" stage=\"${local.chalice_stage}\"', 'p50', 300)", label = "p50", id = "p50" }],
            [{ expression = "SEARCH('{Quarry,service,stage,Stage} MetricName=\"StageLatency\" stage=\"${local.chalice_stage}\"', 'p95', 300)", label = "p95", id = "p95" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 6
        width  = 12
        height = 6
        properties = {
          title   = "End-to-end latency, S3 event to INDEXED (ms)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            ["Quarry", "EndToEndLatency", "service", "quarry", "stage", local.chalice_stage, { stat = "p50", label = "p50" }],
            ["Quarry", "EndToEndLatency", "service", "quarry", "stage", local.chalice_stage, { stat = "p95", label = "p95" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 12
        width  = 12
        height = 6
        properties = {
          title   = "Model tokens per model"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            [{ expression = "SEARCH('{Quarry,service,stage,Model} MetricName=\"ModelInputTokens\" stage=\"${local.chalice_stage}\"', 'Sum', 300)", label = "input", id = "tin" }],
            [{ expression = "SEARCH('{Quarry,service,stage,Model} MetricName=\"ModelOutputTokens\" stage=\"${local.chalice_stage}\"', 'Sum', 300)", label = "output", id = "tout" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 12
        width  = 12
        height = 6
        properties = {
          title   = "Estimated spend per model (USD per 5 min, price table in chalicelib/pricing.py)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            [{ expression = "SEARCH('{Quarry,service,stage,Model} MetricName=\"EstimatedCost\" stage=\"${local.chalice_stage}\"', 'Sum', 300)", id = "cost" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 18
        width  = 12
        height = 6
        properties = {
          title   = "Ingest queue: depth and age of oldest message (s)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 300
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.ingest.name, { stat = "Maximum" }],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.ingest.name, { stat = "Maximum", yAxis = "right" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 18
        width  = 12
        height = 6
        properties = {
          title   = "Dead-letter queue depth"
          region  = local.region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 300
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letter.name, { stat = "Maximum" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 24
        width  = 12
        height = 6
        properties = {
          title   = "Lambda errors and throttles"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.ingest.function_name, { label = "worker errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.ingest.function_name, { label = "worker throttles" }],
            ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.api_handler.function_name, { label = "API errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.api_handler.function_name, { label = "API throttles" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 24
        width  = 12
        height = 6
        properties = {
          title   = "Provider throttles and retries"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            [{ expression = "SEARCH('{Quarry,service,stage,Provider} MetricName=\"ProviderThrottles\" stage=\"${local.chalice_stage}\"', 'Sum', 300)", label = "throttles", id = "thr" }],
            [{ expression = "SEARCH('{Quarry,service,stage,Provider} MetricName=\"ProviderRetries\" stage=\"${local.chalice_stage}\"', 'Sum', 300)", label = "retries", id = "ret" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 30
        width  = 12
        height = 6
        properties = {
          title   = "Search latency per mode p50 / p95 (ms)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            [{ expression = "SEARCH('{Quarry,service,stage,Mode} MetricName=\"SearchLatency\" stage=\"${local.chalice_stage}\"', 'p50', 300)", label = "p50", id = "sp50" }],
            [{ expression = "SEARCH('{Quarry,service,stage,Mode} MetricName=\"SearchLatency\" stage=\"${local.chalice_stage}\"', 'p95', 300)", label = "p95", id = "sp95" }]
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 30
        width  = 12
        height = 6
        properties = {
          title   = "API: searches' results, uploads created, sign-in failures"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            ["Quarry", "SearchResults", "service", "quarry", "stage", local.chalice_stage, { stat = "Average", label = "results per search" }],
            ["Quarry", "UploadsCreated", "service", "quarry", "stage", local.chalice_stage],
            ["Quarry", "AuthFailures", "service", "quarry", "stage", local.chalice_stage]
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 36
        width  = 12
        height = 6
        properties = {
          title   = "Chunks and source bytes ingested"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 300
          metrics = [
            ["Quarry", "Chunks", "service", "quarry", "stage", local.chalice_stage],
            ["Quarry", "SourceBytes", "service", "quarry", "stage", local.chalice_stage, { yAxis = "right" }]
          ]
        }
      }
    ]
  }
}

resource "aws_cloudwatch_dashboard" "quarry" {
  dashboard_name = local.name
  dashboard_body = jsonencode(local.dashboard)
}
