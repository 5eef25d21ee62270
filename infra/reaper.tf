# The reaper (chalicelib/reaper.py): an `@app.schedule` function that ends FAILED the documents whose
# worker died on their last delivery, so every object ends terminal even when its message went to the
# dead-letter queue with nothing written. Chalice writes the function, its EventBridge schedule rule
# and the invoke permission; the override (infra/tools/assemble.py) gives it this role, its log group,
# its settings, the rule a per-stage name and the rate below.

variable "reaper_interval_minutes" {
  type        = number
  description = "How often the reaper looks for documents whose worker died on their last delivery (minutes)."
  default     = 5
  validation {
    condition     = var.reaper_interval_minutes >= 1 && var.reaper_interval_minutes <= 1440
    error_message = "reaper_interval_minutes must be between 1 and 1440."
  }
}

variable "reaper_abandoned_after_seconds" {
  type        = number
  description = "A PROCESSING document nothing has touched for this long is failed by the reaper (QUARRY_ABANDONED_AFTER_S): keep it well above the ingest queue's visibility timeout and the longest retry wait."
  default     = 21600
  validation {
    condition     = var.reaper_abandoned_after_seconds >= 3600
    error_message = "reaper_abandoned_after_seconds must be at least an hour (3600)."
  }
}

locals {
  reaper_log_group_name = "/aws/lambda/${local.reaper_function_name}"
  reaper_schedule = (
    var.reaper_interval_minutes == 1 ? "rate(1 minute)" : "rate(${var.reaper_interval_minutes} minutes)"
  )
}

resource "aws_cloudwatch_log_group" "reaper" {
  name              = local.reaper_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.quarry.arn
}

resource "aws_iam_role" "reaper" {
  name                 = "${local.name}-reaper"
  description          = "Quarry ${local.chalice_stage} reaper (${local.reaper_function_name})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
}

# Reads PROCESSING documents from the by-status index, fails them with a conditional PutItem, and
# removes what their dead worker wrote: chunks (the collection) and processed output (every version).
data "aws_iam_policy_document" "reaper" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reaper.arn}:*"]
  }

  statement {
    sid       = "FindProcessingDocuments"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.documents.arn}/index/by-status"]
  }

  statement {
    sid       = "FailAbandonedDocuments"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.documents.arn]
  }

  statement {
    sid       = "RemoveProcessedOutput"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["${aws_s3_bucket.processed.arn}/${var.processed_key_prefix}*"]
  }

  statement {
    sid       = "ListProcessedOutputVersions"
    actions   = ["s3:ListBucketVersions"]
    resources = [aws_s3_bucket.processed.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.processed_key_prefix}*"]
    }
  }

  # Removing a dead worker's chunks schedules the document's delayed sweep (infra/sweeps.tf), for
  # what a lagging index's lookup hid.
  statement {
    sid       = "ScheduleSweeps"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.sweep.arn]
  }

  statement {
    sid       = "UseQuarryKeyThroughItsServices"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.quarry.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${local.region}.amazonaws.com",
        "dynamodb.${local.region}.amazonaws.com",
        "sqs.${local.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "VectorCollection"
    actions   = ["aoss:APIAccessAll"]
    resources = [aws_opensearchserverless_collection.vectors.arn]
  }

  # X-Ray has no resource-level permissions: AWS accepts only "*" for these two actions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.enable_vpc_endpoints ? [1] : []
    content {
      sid = "VpcNetworkInterfaces"
      # See the same statement in the ingest policy: AWS offers nothing narrower than "*".
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "reaper" {
  name   = "quarry-reaper"
  role   = aws_iam_role.reaper.id
  policy = data.aws_iam_policy_document.reaper.json
}

resource "terraform_data" "reaper_role" {
  input      = aws_iam_role.reaper.arn
  depends_on = [aws_iam_role_policy.reaper]
}

resource "aws_cloudwatch_metric_alarm" "reaper_errors" {
  alarm_name          = "${local.name}-reaper-errors"
  alarm_description   = "The reaper (${aws_lambda_function.reap_abandoned.function_name}) failed: documents whose worker died on their last delivery may stay PROCESSING."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.reap_abandoned.function_name }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
