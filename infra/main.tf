# Quarry's AWS resources. This directory is not a root module on its own: `make package` copies these
# files next to Chalice's chalice.tf.json (the Lambda functions, the REST API, the SQS event source
# mapping) plus two generated files, chalice_facts.tf.json (local.chalice_* values read from the
# Chalice package) and chalice_override.tf.json (what Chalice cannot express). Deploy from
# build/terraform: see docs/DEPLOY.md.

provider "aws" {
  # The region comes from the environment (AWS_REGION / AWS_DEFAULT_REGION), as for `chalice package`.
  default_tags {
    tags = merge(var.tags, {
      "quarry:app"   = local.chalice_app_name
      "quarry:stage" = local.chalice_stage
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  name       = "${local.chalice_app_name}-${local.chalice_stage}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  bedrock_region = coalesce(var.bedrock_region, local.region)

  # Log groups are named, not referenced, where a reference would make a cycle (the key policy
  # must name them before they exist).
  ingest_log_group_name     = "/aws/lambda/${local.ingest_function_name}"
  api_log_group_name        = "/aws/lambda/${local.api_function_name}"
  sweep_log_group_name      = "/aws/lambda/${local.sweep_function_name}"
  api_access_log_group_name = "/aws/apigateway/${local.name}-access"

  # The given topic, else the one infra/monitoring.tf creates.
  alarm_actions = var.alarm_sns_topic_arn == null ? [aws_sns_topic.alarms[0].arn] : [var.alarm_sns_topic_arn]
}

# One customer managed key for everything Quarry stores: both buckets, the queues, the table, the
# vector collection, the log groups and the functions' environment.
resource "aws_kms_key" "quarry" {
  description             = "Quarry ${local.chalice_stage}: documents, queues, catalog, vectors and logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "quarry" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.quarry.key_id
}

# In a key policy, "Resource": "*" means "this key": a key policy cannot name anything else.
data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:Key policy: "*" is this key, and the account root statement is the standard delegation to IAM policies.
  # checkov:skip=CKV_AWS_111:Key policy: "*" is this key; service statements are bound by aws:SourceArn or the logs encryption context.
  # checkov:skip=CKV_AWS_356:Key policy: the resource of a key policy statement can only be "*" (this key).
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsQuarryLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.ingest_log_group_name}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.api_log_group_name}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.sweep_log_group_name}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.reaper_log_group_name}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.api_access_log_group_name}",
        # The execution log group's name holds the REST API id, which is not known before the key.
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:API-Gateway-Execution-Logs_*",
      ]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedAlarmTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name}-*"]
    }
  }

  statement {
    sid       = "EventBridgeDeliversRawObjectEventsToEncryptedQueues"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
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
}
