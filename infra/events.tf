# Raw-input events -> EventBridge (default bus) -> the ingestion queue -> the `ingest` function
# (Chalice's event source mapping, pointed at this queue by the override). Messages that fail
# max_receive_count times, and events EventBridge cannot deliver, land in the dead-letter queue;
# both carry the same EventBridge event, so a redrive puts them back on the ingestion queue.

resource "aws_sqs_queue" "dead_letter" {
  name                              = "${local.name}-ingest-dlq"
  message_retention_seconds         = var.dead_letter_retention_seconds
  kms_master_key_id                 = aws_kms_key.quarry.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "ingest" {
  name = "${local.name}-ingest"
  # At least 6 x the worker's timeout (AWS's guidance for Lambda consumers): a message is never
  # visible again while a worker may still be processing it. Computed from the Chalice package.
  visibility_timeout_seconds        = local.ingest_queue_visibility_timeout_seconds
  message_retention_seconds         = var.ingest_retention_seconds
  kms_master_key_id                 = aws_kms_key.quarry.arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.ingest.arn]
  })
}

resource "aws_cloudwatch_event_rule" "raw_objects" {
  name        = "${local.name}-raw-object-events"
  description = "Objects created in or deleted from ${aws_s3_bucket.raw.id}"
  # Same pattern as devstack/cloud.py:event_pattern (the local stack).
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created", "Object Deleted"]
    detail = {
      bucket = { name = [aws_s3_bucket.raw.id] }
    }
  })
}

resource "aws_cloudwatch_event_target" "ingest_queue" {
  rule      = aws_cloudwatch_event_rule.raw_objects.name
  target_id = "ingest-queue"
  arn       = aws_sqs_queue.ingest.arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

# Only the rule may send to the queues; everything else is denied plain HTTP.
data "aws_iam_policy_document" "queue_from_rule" {
  for_each = {
    ingest      = aws_sqs_queue.ingest.arn
    dead_letter = aws_sqs_queue.dead_letter.arn
  }
  statement {
    sid       = "RawObjectEventsRuleOnly"
    actions   = ["sqs:SendMessage"]
    resources = [each.value]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.raw_objects.arn]
    }
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

resource "aws_sqs_queue_policy" "ingest" {
  queue_url = aws_sqs_queue.ingest.id
  policy    = data.aws_iam_policy_document.queue_from_rule["ingest"].json
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.queue_from_rule["dead_letter"].json
}
