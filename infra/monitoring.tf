# Log groups (declared here, not through Chalice's log_retention_in_days, which crashes terraform
# packaging) and the alarms that say ingestion is stuck or failing.

resource "aws_cloudwatch_log_group" "ingest" {
  name              = local.ingest_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.quarry.arn
}

resource "aws_cloudwatch_log_group" "api" {
  name              = local.api_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.quarry.arn
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${local.name}-dead-letters"
  alarm_description   = "Messages in ${aws_sqs_queue.dead_letter.name}: documents that failed ${var.max_receive_count} times or events EventBridge could not deliver. Inspect, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letter.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ingest_backlog_age" {
  alarm_name          = "${local.name}-ingest-backlog-age"
  alarm_description   = "The oldest message in ${aws_sqs_queue.ingest.name} has waited more than ${var.queue_age_alarm_seconds} s: the worker is not keeping up or not running."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.ingest.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.queue_age_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "worker_errors" {
  alarm_name          = "${local.name}-worker-errors"
  alarm_description   = "The ingest worker (${aws_lambda_function.ingest.function_name}) failed whole invocations: timeouts, crashes or configuration errors."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.ingest.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "worker_throttles" {
  alarm_name          = "${local.name}-worker-throttles"
  alarm_description   = "The ingest worker (${aws_lambda_function.ingest.function_name}) was throttled: raise the account's concurrency or lower worker_max_concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.ingest.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_errors" {
  alarm_name          = "${local.name}-api-errors"
  alarm_description   = "The API function (${aws_lambda_function.api_handler.function_name}) failed invocations (unhandled errors, timeouts)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.api_handler.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Account-level faults (AccessDenied, expired credentials, a model not enabled, an OpenSearch 403)
# are retried rather than failing the document (chalicelib/adapters/aws_retry.py), so nothing fails
# loudly while one bad deployment stalls every document: each one logs an ERROR line through the
# standard logger, "configuration error (the document will be retried): <error>; fix: <fix>" (text
# in Lambda's own format, not Powertools JSON), and the filter counts the lines with that phrase.
locals {
  configuration_error_log_groups = {
    ingest = aws_cloudwatch_log_group.ingest.name
    api    = aws_cloudwatch_log_group.api.name
  }
}

resource "aws_cloudwatch_log_metric_filter" "configuration_errors" {
  for_each       = local.configuration_error_log_groups
  name           = "${local.name}-${each.key}-configuration-errors"
  log_group_name = each.value
  pattern        = "\"configuration error (the document will be retried)\""
  metric_transformation {
    name          = "ConfigurationErrors"
    namespace     = "Quarry/${local.name}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "configuration_errors" {
  alarm_name          = "${local.name}-configuration-errors"
  alarm_description   = "Quarry logged configuration errors (missing permission, expired credentials, model not enabled, OpenSearch 403): documents are being retried, not indexed, until the deployment is fixed. The log line names the fix."
  namespace           = "Quarry/${local.name}"
  metric_name         = "ConfigurationErrors"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  depends_on          = [aws_cloudwatch_log_metric_filter.configuration_errors]
}

# Alarms on Quarry's own metrics (chalicelib/metrics.py). Each metric carries the dimensions service
# and stage; DocumentsFailed and ProviderThrottles are also written without their extra dimension
# (their roll-ups), which is what these alarms watch: an alarm cannot SEARCH across dimension values.

resource "aws_cloudwatch_metric_alarm" "failure_ratio" {
  alarm_name          = "${local.name}-failure-ratio"
  alarm_description   = "More than ${var.failure_ratio_alarm * 100}% of the documents that ended in 5 minutes FAILED: see the dashboard's failures by error code, and the documents' error messages."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failure_ratio_alarm
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "ratio"
    expression  = "failed / (failed + indexed)"
    label       = "Failed share of documents that ended"
    return_data = true
  }

  metric_query {
    id = "failed"
    metric {
      namespace   = "Quarry"
      metric_name = "DocumentsFailed"
      dimensions  = { service = "quarry", stage = local.chalice_stage }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "indexed"
    metric {
      namespace   = "Quarry"
      metric_name = "DocumentsIndexed"
      dimensions  = { service = "quarry", stage = local.chalice_stage }
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "provider_throttling" {
  alarm_name          = "${local.name}-provider-throttling"
  alarm_description   = "Bedrock or OpenSearch throttled the worker more than ${var.provider_throttle_alarm} times in 5 minutes: raise the Bedrock quota, or lower record_concurrency / embedding_concurrency / worker_max_concurrency."
  namespace           = "Quarry"
  metric_name         = "ProviderThrottles"
  dimensions          = { service = "quarry", stage = local.chalice_stage }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.provider_throttle_alarm
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Where the alarms notify when no topic is given: a topic of our own (subscribe to it after apply),
# encrypted with Quarry's key (CloudWatch may use it: main.tf's key policy).
resource "aws_sns_topic" "alarms" {
  count             = var.alarm_sns_topic_arn == null ? 1 : 0
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.quarry.arn
}
