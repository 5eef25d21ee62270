# One role per Chalice function, each with only what its code calls (chalicelib/): the override
# file hands these roles to the functions (.chalice/config.json: manage_iam_role false).

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ingest" {
  name                 = "${local.name}-ingest"
  description          = "Quarry ${local.chalice_stage} ingest worker (${local.ingest_function_name})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role" "api" {
  name                 = "${local.name}-api"
  description          = "Quarry ${local.chalice_stage} API (${local.api_function_name})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
}

locals {
  table_arns = [
    aws_dynamodb_table.documents.arn,
    "${aws_dynamodb_table.documents.arn}/index/by-status",
  ]

  # A model id is either a foundation model ("amazon.titan-embed-text-v2:0") or a cross-Region
  # inference profile ("us.anthropic.claude-..."). A profile needs the profile ARN plus the
  # foundation model in every Region it routes to, which the profile decides: hence the Region
  # wildcard in that one ARN, the narrowest form AWS documents for inference profiles.
  bedrock_models = {
    embedding  = var.embedding_model_id
    extraction = var.extraction_model_id
    answer     = var.answer_model_id
  }
  bedrock_model_arns = {
    for use, id in local.bedrock_models : use => (
      can(regex("^(us|eu|apac|us-gov|global|jp|au|ca)\\.", id))
      ? [
        "arn:${local.partition}:bedrock:${local.bedrock_region}:${local.account_id}:inference-profile/${id}",
        "arn:${local.partition}:bedrock:*::foundation-model/${replace(id, "/^[a-z-]+\\./", "")}",
      ]
      : ["arn:${local.partition}:bedrock:${local.bedrock_region}::foundation-model/${id}"]
    )
  }

  # KMS only through the services that use the Quarry key on the functions' behalf.
  kms_via_services = [
    "s3.${local.region}.amazonaws.com",
    "sqs.${local.region}.amazonaws.com",
    "dynamodb.${local.region}.amazonaws.com",
  ]
}

data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ingest.arn}:*"]
  }

  # ChangeMessageVisibility: the worker sets a failed message's retry backoff itself
  # (chalicelib/worker.py RetryBackoff) instead of waiting out the queue's visibility timeout.
  statement {
    sid = "ConsumeIngestQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.ingest.arn]
  }

  # Every write or delete of a document's chunks schedules its delayed sweep (infra/sweeps.tf).
  statement {
    sid       = "ScheduleSweeps"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.sweep.arn]
  }

  statement {
    sid       = "ReadRawInput"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.raw.arn}/*"]
  }

  # Without ListBucket, S3 answers 403 instead of 404 for a key deleted before the worker got to
  # it, and the worker would retry a missing object instead of recording it as gone.
  statement {
    sid       = "TellMissingRawObjects"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.raw.arn]
  }

  # A failed or deleted document's processed output goes with every version (the bucket is
  # versioned): the worker lists the key's versions and deletes each one.
  statement {
    sid       = "WriteProcessedOutput"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
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

  statement {
    sid       = "UseQuarryKeyThroughItsServices"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.quarry.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }

  # UpdateItem: the cost ledger (a document's usage, then its tenant-day total by ADD).
  statement {
    sid       = "Catalog"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.documents.arn]
  }

  statement {
    sid       = "VectorCollection"
    actions   = ["aoss:APIAccessAll"]
    resources = [aws_opensearchserverless_collection.vectors.arn]
  }

  statement {
    sid       = "EmbedAndExtract"
    actions   = ["bedrock:InvokeModel"]
    resources = flatten(values(local.bedrock_model_arns))
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
      # Lambda manages the function's ENIs with the role's credentials. The Describe call has no
      # resource-level permissions and the others act on ENIs that do not exist yet, so AWS offers
      # nothing narrower than "*" (the same as its AWSLambdaVPCAccessExecutionRole policy).
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

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.api.arn}:*"]
  }

  # DELETE /documents/{id} schedules the document's delayed sweep (infra/sweeps.tf); the queue is
  # encrypted with the Quarry key, so sending needs the key through SQS.
  statement {
    sid       = "ScheduleSweeps"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.sweep.arn]
  }

  statement {
    sid       = "EncryptSweepsThroughSqs"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.quarry.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # POST /uploads hands out pre-signed PUT URLs: S3 checks the signer's (this role's) permission,
  # so the role may put objects, under the tenants' uploads/ prefixes only.
  statement {
    sid       = "PresignUploads"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.raw.arn}/${var.upload_key_prefix}*"]
  }

  # DELETE /documents/{id}: the source object (anywhere in raw-input: objects dropped straight
  # into the bucket are documents too) and the processed JSON, each with every version (both
  # buckets are versioned; deleted means deleted), found by listing the key's versions.
  statement {
    sid       = "DeleteDocumentObjects"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["${aws_s3_bucket.raw.arn}/*", "${aws_s3_bucket.processed.arn}/${var.processed_key_prefix}*"]
  }

  # Any key of raw-input can be a document, so its listing cannot be narrowed by prefix.
  statement {
    sid       = "ListSourceVersions"
    actions   = ["s3:ListBucketVersions"]
    resources = [aws_s3_bucket.raw.arn]
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

  # A pre-signed PUT into an SSE-KMS bucket makes S3 ask KMS for a data key as the signer.
  # The table is encrypted with the Quarry key: reads may make DynamoDB call KMS for the caller.
  statement {
    sid       = "ReadEncryptedCatalog"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.quarry.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptUploadsThroughS3"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.quarry.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  # POST /documents/{id}/reindex queues the document for the worker on the ingest queue (and no
  # other), after finding its source by listing under its key: the API never reads object content.
  # The queue is encrypted with the Quarry key: EncryptSweepsThroughSqs above serves both queues.
  statement {
    sid       = "RequestReindex"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.ingest.arn]
  }

  statement {
    sid       = "FindReindexSources"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.raw.arn]
  }

  # Read and list the catalog; PutItem records a new upload (PENDING) and a deletion (DELETED).
  statement {
    sid       = "Catalog"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = local.table_arns
  }

  # GET /usage reads the per-tenant, per-day ledger items in batches: those items only, by their key
  # prefix (chalicelib/adapters/dynamo_ledger.py LEDGER_PREFIX), never a document's record.
  statement {
    sid       = "ReadUsageLedger"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.documents.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["usage#*"]
    }
  }

  # POST /search checks its hits against the catalog in one batch read (chalicelib/search_check.py):
  # the table only (BatchGetItem reads no index) and only the attributes that check projects
  # (chalicelib/adapters/dynamo_catalog.py STATE_ATTRIBUTES), as AWS's fine-grained access example does
  # (IAM User Guide, reference_policies_examples_dynamodb_attributes).
  statement {
    sid       = "CheckSearchHits"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.documents.arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:Attributes"
      values   = ["document_id", "tenant", "status", "etag", "indexed_etag"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "dynamodb:Select"
      values   = ["SPECIFIC_ATTRIBUTES"]
    }
  }

  statement {
    sid       = "VectorCollection"
    actions   = ["aoss:APIAccessAll"]
    resources = [aws_opensearchserverless_collection.vectors.arn]
  }

  statement {
    sid       = "EmbedQueries"
    actions   = ["bedrock:InvokeModel"]
    resources = local.bedrock_model_arns["embedding"]
  }

  # POST /answer: Converse is authorised as InvokeModel on the answering model.
  statement {
    sid       = "AnswerQuestions"
    actions   = ["bedrock:InvokeModel"]
    resources = local.bedrock_model_arns["answer"]
  }

  # Rerank needs both actions (Bedrock User Guide, "Permissions for reranking"): bedrock:Rerank has
  # no resource type, so "*" is the only resource IAM accepts for it; the model it may use is
  # narrowed by InvokeModel on that one foundation model.
  dynamic "statement" {
    for_each = var.reranker == "bedrock" ? [1] : []
    content {
      sid       = "Rerank"
      actions   = ["bedrock:Rerank"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.reranker == "bedrock" ? [1] : []
    content {
      sid       = "InvokeRerankModel"
      actions   = ["bedrock:InvokeModel"]
      resources = ["arn:${local.partition}:bedrock:${local.bedrock_region}::foundation-model/${var.rerank_model_id}"]
    }
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

resource "aws_iam_role_policy" "ingest" {
  name   = "quarry-ingest"
  role   = aws_iam_role.ingest.id
  policy = data.aws_iam_policy_document.ingest.json
}

resource "aws_iam_role_policy" "api" {
  name   = "quarry-api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

# The role ARNs the override gives the Chalice functions. They pass through terraform_data so that
# a function (and the SQS event source mapping, which checks the role's SQS permissions when it is
# created) waits for the role's policy: an override file cannot add depends_on.
resource "terraform_data" "ingest_role" {
  input      = aws_iam_role.ingest.arn
  depends_on = [aws_iam_role_policy.ingest]
}

resource "terraform_data" "api_role" {
  input      = aws_iam_role.api.arn
  depends_on = [aws_iam_role_policy.api]
}
