# The delayed sweep (chalicelib/sweeps.py). OpenSearch Serverless shows a write to the lookups that
# find chunks to delete only about a minute later, so every write or delete of a document's chunks
# (worker and API alike) sends a message naming the document, delayed by var.sweep_delay_seconds, to
# this queue; the `sweep` function then removes whatever the catalog says should not be indexed.
# Its own queue and dead-letter queue: the ingest queue's consumer, retry backoff and DLQ alarm all
# concern S3 events, and a sweep needs none of the ingest worker's memory or Bedrock access.

resource "aws_sqs_queue" "sweep_dead_letter" {
  name                              = "${local.name}-sweep-dlq"
  message_retention_seconds         = var.dead_letter_retention_seconds
  kms_master_key_id                 = aws_kms_key.quarry.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "sweep" {
  name = "${local.name}-sweep"
  # Six times the sweep function's timeout, as for the ingest queue. The delay is each message's
  # own (DelaySeconds), so the queue sets none.
  visibility_timeout_seconds        = local.sweep_queue_visibility_timeout_seconds
  message_retention_seconds         = var.ingest_retention_seconds
  kms_master_key_id                 = aws_kms_key.quarry.arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.sweep_dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "sweep_dead_letter" {
  queue_url = aws_sqs_queue.sweep_dead_letter.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.sweep.arn]
  })
}

# Senders and the consumer are allowed by their identity policies; the queues only refuse plain HTTP.
data "aws_iam_policy_document" "sweep_queue_tls_only" {
  for_each = {
    sweep             = aws_sqs_queue.sweep.arn
    sweep_dead_letter = aws_sqs_queue.sweep_dead_letter.arn
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "sweep" {
  queue_url = aws_sqs_queue.sweep.id
  policy    = data.aws_iam_policy_document.sweep_queue_tls_only["sweep"].json
}

resource "aws_sqs_queue_policy" "sweep_dead_letter" {
  queue_url = aws_sqs_queue.sweep_dead_letter.id
  policy    = data.aws_iam_policy_document.sweep_queue_tls_only["sweep_dead_letter"].json
}

resource "aws_iam_role" "sweep" {
  name                 = "${local.name}-sweep"
  description          = "Quarry ${local.chalice_stage} delayed sweep (${local.sweep_function_name})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
}

# The sweep reads a document's catalog record and deletes chunks: nothing in S3, no model.
data "aws_iam_policy_document" "sweep" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.sweep.arn}:*"]
  }

  statement {
    sid       = "ConsumeSweepQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.sweep.arn]
  }

  statement {
    sid       = "UseQuarryKeyThroughItsServices"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.quarry.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com", "dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadCatalog"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.documents.arn]
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

resource "aws_iam_role_policy" "sweep" {
  name   = "quarry-sweep"
  role   = aws_iam_role.sweep.id
  policy = data.aws_iam_policy_document.sweep.json
}

resource "terraform_data" "sweep_role" {
  input      = aws_iam_role.sweep.arn
  depends_on = [aws_iam_role_policy.sweep]
}

resource "aws_cloudwatch_log_group" "sweep" {
  name              = local.sweep_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.quarry.arn
}

resource "aws_cloudwatch_metric_alarm" "sweep_dead_letters" {
  alarm_name          = "${local.name}-sweep-dead-letters"
  alarm_description   = "Messages in ${aws_sqs_queue.sweep_dead_letter.name}: sweeps that failed ${var.max_receive_count} times, so deleted or replaced documents may still have chunks in the index. Fix the cause (the collection's access or health), then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.sweep_dead_letter.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
