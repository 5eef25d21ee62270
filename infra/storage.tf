# S3: raw-input (uploads land here; its events drive ingestion), processed-output (one JSON per
# document), and the server access log bucket both write to. DynamoDB: the documents catalog.

locals {
  data_buckets = {
    raw       = aws_s3_bucket.raw.id
    processed = aws_s3_bucket.processed.id
  }
}

resource "aws_s3_bucket" "raw" {
  # checkov:skip=CKV_AWS_144:Single-region by design; versioning keeps overwritten and deleted uploads. Cross-region replication is a disaster-recovery choice for the operator.
  bucket        = "${local.name}-raw-${local.account_id}-${local.region}"
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket" "processed" {
  # checkov:skip=CKV_AWS_144:Processed output is derived data: the worker rebuilds it from raw-input.
  # checkov:skip=CKV2_AWS_62:Nothing consumes processed-output events; only raw-input drives ingestion.
  bucket        = "${local.name}-processed-${local.account_id}-${local.region}"
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_144:Access logs are an audit trail of this region's buckets; no replica needed.
  # checkov:skip=CKV_AWS_145:S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS.
  # checkov:skip=CKV_AWS_18:This is the access-log target bucket; logging it into itself would loop.
  # checkov:skip=CKV2_AWS_62:Nothing consumes events of the access-log bucket.
  bucket        = "${local.name}-access-logs-${local.account_id}-${local.region}"
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = local.data_buckets
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = local.data_buckets
  bucket   = each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.quarry.arn
    }
    # S3 Bucket Keys cut KMS requests (and cost) for every object the worker reads and writes.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = merge(local.data_buckets, { access_logs = aws_s3_bucket.access_logs.id })
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "all" {
  for_each = merge(local.data_buckets, { access_logs = aws_s3_bucket.access_logs.id })
  bucket   = each.value
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "data" {
  for_each      = local.data_buckets
  bucket        = each.value
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

# Raw-input emits "Object Created" / "Object Deleted" to EventBridge (rule in events.tf).
resource "aws_s3_bucket_notification" "raw" {
  bucket      = aws_s3_bucket.raw.id
  eventbridge = true
}

resource "aws_s3_bucket_lifecycle_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.raw_noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket_lifecycle_configuration" "processed" {
  bucket = aws_s3_bucket.processed.id
  rule {
    id     = "expire-processed-output"
    status = "Enabled"
    filter {}
    # Optional: processed output is derived data; set var.processed_expiration_days to expire it.
    dynamic "expiration" {
      for_each = var.processed_expiration_days == null ? [] : [var.processed_expiration_days]
      content {
        days = expiration.value
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.processed_noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.access_logs]
}

# TLS only (and TLS 1.2 or newer) on both data buckets.
data "aws_iam_policy_document" "bucket_tls_only" {
  for_each = local.data_buckets
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::${each.value}",
      "arn:${local.partition}:s3:::${each.value}/*",
    ]
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
  statement {
    sid     = "DenyOutdatedTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::${each.value}",
      "arn:${local.partition}:s3:::${each.value}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  for_each   = local.data_buckets
  bucket     = each.value
  policy     = data.aws_iam_policy_document.bucket_tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.all]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogsFromQuarryBuckets"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.raw.arn, aws_s3_bucket.processed.arn]
    }
  }
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.access_logs.arn,
      "${aws_s3_bucket.access_logs.arn}/*",
    ]
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

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.all]
}

# The catalog: same key schema and GSI as chalicelib/adapters/dynamo_catalog.py:table_definition
# (tests/infra check they agree).
resource "aws_dynamodb_table" "documents" {
  name                        = "${local.name}-documents"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "document_id"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "document_id"
    type = "S"
  }
  attribute {
    name = "status"
    type = "S"
  }
  attribute {
    name = "updated_at"
    type = "S"
  }
  attribute {
    name = "tenant"
    type = "S"
  }
  attribute {
    name = "tenant_status"
    type = "S"
  }

  # Documents of one status across tenants, newest first.
  global_secondary_index {
    name            = "by-status"
    hash_key        = "status"
    range_key       = "updated_at"
    projection_type = "ALL"
  }

  # GET /documents lists one tenant's documents newest first through these: a Query scoped to the
  # caller's tenant (tenant_status is "{tenant}#{status}"), never a Scan.
  global_secondary_index {
    name            = "by-tenant"
    hash_key        = "tenant"
    range_key       = "updated_at"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "by-tenant-status"
    hash_key        = "tenant_status"
    range_key       = "updated_at"
    projection_type = "ALL"
  }

  # Epoch seconds, a number: uploads whose object never arrived (DocumentRecord.expires_at) and the
  # rate limiter's minute counters are deleted by DynamoDB within a day or two of this time.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.quarry.arn
  }
}

# The web page (web/, hosted at var.web_origin) sends each file straight to the raw bucket through the
# pre-signed POST form: the bucket must allow that one origin's POST, and nothing else.
resource "aws_s3_bucket_cors_configuration" "raw_uploads_from_the_web_page" {
  count  = var.web_origin == "" ? 0 : 1
  bucket = aws_s3_bucket.raw.id
  cors_rule {
    allowed_methods = ["POST"]
    allowed_origins = [var.web_origin]
    allowed_headers = ["*"]
    max_age_seconds = 3000
  }
}
