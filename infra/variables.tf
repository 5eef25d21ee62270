# Inputs. Names and stage come from the Chalice package (local.chalice_*), not from variables, so
# the infrastructure always matches the functions it is deployed with.

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (the provider's default_tags), besides quarry:app and quarry:stage."
  default     = {}
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Days KMS waits before deleting the Quarry key once scheduled for deletion (7-30)."
  default     = 30
  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let `terraform destroy` delete the buckets with their objects. Keep false in production."
  default     = false
}

variable "raw_noncurrent_version_days" {
  type        = number
  description = "Days an overwritten or deleted raw upload stays recoverable as a noncurrent version."
  default     = 90
}

variable "processed_expiration_days" {
  type        = number
  description = "Expire processed-output objects this many days after they are written; null keeps them (they are rebuilt by re-ingesting the raw object)."
  default     = null
}

variable "processed_noncurrent_version_days" {
  type        = number
  description = "Days a replaced or deleted processed-output object stays recoverable as a noncurrent version."
  default     = 30
}

variable "access_log_retention_days" {
  type        = number
  description = "Days S3 server access logs of both data buckets are kept."
  default     = 365
}

variable "processed_key_prefix" {
  type        = string
  description = "Key pattern of processed output, as chalicelib/model.py:processed_key writes it (\"*\" is any tenant); IAM grants writes and deletes under it only."
  default     = "tenants/*/processed/"
}

variable "upload_key_prefix" {
  type        = string
  description = "Key pattern of uploads, as chalicelib/model.py:upload_key names them (\"*\" is any tenant); the API role may sign uploads under it only."
  default     = "tenants/*/uploads/"
}

variable "table_deletion_protection" {
  type        = bool
  description = "Refuse to delete the documents table (set false before destroying a stage)."
  default     = true
}

variable "max_receive_count" {
  type        = number
  description = "Receives of one ingestion message before SQS moves it to the dead-letter queue; the worker also reads it (QUARRY_MAX_RECEIVE_COUNT) to record the final failure."
  default     = 5
  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "ingest_retention_seconds" {
  type        = number
  description = "How long an unprocessed message stays on the ingestion queue (60 s to 14 days)."
  default     = 345600
}

variable "dead_letter_retention_seconds" {
  type        = number
  description = "How long a dead letter is kept for inspection and redrive (up to 14 days, the SQS maximum)."
  default     = 1209600
  validation {
    condition     = var.dead_letter_retention_seconds >= 60 && var.dead_letter_retention_seconds <= 1209600
    error_message = "dead_letter_retention_seconds must be between 60 and 1209600."
  }
}

variable "worker_max_concurrency" {
  type        = number
  description = "Most concurrent ingest workers the SQS event source starts (2-1000). Bounds Bedrock and OpenSearch load; unlike reserved concurrency it does not throttle and burn receive counts."
  default     = 5
  validation {
    condition     = var.worker_max_concurrency >= 2 && var.worker_max_concurrency <= 1000
    error_message = "worker_max_concurrency must be between 2 and 1000."
  }
}

variable "api_reserved_concurrency" {
  type        = number
  description = "Concurrency reserved for (and capping) the API function; -1 for none. Needs that much unreserved concurrency in the account."
  default     = 20
}

variable "lambda_tracing_mode" {
  type        = string
  description = "X-Ray tracing of both functions and the API stage: Active or PassThrough."
  default     = "Active"
  validation {
    condition     = contains(["Active", "PassThrough"], var.lambda_tracing_mode)
    error_message = "lambda_tracing_mode must be Active or PassThrough."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' and the API's log groups, in days (a value CloudWatch Logs accepts)."
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ..., 365, ..., 3653)."
  }
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "SNS topic notified when an alarm fires or clears; null creates one (quarry-<stage>-alarms) to subscribe to."
  default     = null
}

variable "failure_ratio_alarm" {
  type        = number
  description = "Alarm when more than this share (0-1) of the documents ending in 5 minutes FAILED, in 2 of 3 periods."
  default     = 0.1
  validation {
    condition     = var.failure_ratio_alarm > 0 && var.failure_ratio_alarm < 1
    error_message = "failure_ratio_alarm is a share between 0 and 1."
  }
}

variable "provider_throttle_alarm" {
  type        = number
  description = "Alarm when Bedrock and OpenSearch throttle the worker more than this many times in 5 minutes."
  default     = 50
}

variable "queue_age_alarm_seconds" {
  type        = number
  description = "Alarm when the oldest message on the ingestion queue is older than this."
  default     = 1800
}

variable "bedrock_region" {
  type        = string
  description = "Region of the Bedrock models; null means the deployment's Region."
  default     = null
}

variable "embedding_model_id" {
  type        = string
  description = "Bedrock embedding model (QUARRY_EMBEDDING_MODEL_ID); the API and the worker may invoke it."
  default     = "amazon.titan-embed-text-v2:0"
}

variable "embedding_dimensions" {
  type        = number
  description = "Embedding size requested from the model (QUARRY_EMBEDDING_DIMENSIONS): Titan V2 takes 256, 512 or 1024."
  default     = 1024
  validation {
    condition     = contains([256, 512, 1024], var.embedding_dimensions)
    error_message = "embedding_dimensions must be 256, 512 or 1024 for Titan Text Embeddings V2."
  }
}

variable "record_concurrency" {
  type        = number
  description = "Records of one SQS batch the worker processes at once (QUARRY_RECORD_CONCURRENCY); each holds its object and parse in memory, so raise worker memory with it."
  default     = 4
  validation {
    condition     = var.record_concurrency >= 1 && var.record_concurrency <= 10
    error_message = "record_concurrency must be between 1 and 10 (the batch size)."
  }
}

variable "embedding_concurrency" {
  type        = number
  description = "Titan InvokeModel calls in flight per worker (QUARRY_EMBEDDING_CONCURRENCY), shared by the records in flight."
  default     = 8
  validation {
    condition     = var.embedding_concurrency >= 1 && var.embedding_concurrency <= 64
    error_message = "embedding_concurrency must be between 1 and 64."
  }
}

variable "extraction_model_id" {
  type        = string
  description = "Bedrock model for structured extraction (QUARRY_EXTRACTION_MODEL_ID): a foundation model id or a cross-Region inference profile id (us., eu., apac., global. ...); only the worker may invoke it."
  default     = "anthropic.claude-3-5-haiku-20241022-v1:0"
}

variable "answer_model_id" {
  type        = string
  description = "Bedrock model that writes POST /answer's answers through Converse (QUARRY_ANSWER_MODEL_ID): a foundation model id or a cross-Region inference profile id; only the API may invoke it."
  default     = "anthropic.claude-3-5-haiku-20241022-v1:0"
}

variable "reranker" {
  type        = string
  description = "\"bedrock\": searches may ask for `rerank: true` (Bedrock's Rerank API, QUARRY_RERANKER); \"none\": such a search is a 400 rerank_unavailable and the API gets no Rerank permission."
  default     = "bedrock"
  validation {
    condition     = contains(["bedrock", "none"], var.reranker)
    error_message = "reranker must be \"bedrock\" or \"none\"."
  }
}

variable "rerank_model_id" {
  type        = string
  description = "Bedrock reranking model (QUARRY_RERANK_MODEL_ID): amazon.rerank-v1:0 or cohere.rerank-v3-5:0, where the Region offers it."
  default     = "amazon.rerank-v1:0"
  validation {
    condition     = contains(["amazon.rerank-v1:0", "cohere.rerank-v3-5:0"], var.rerank_model_id)
    error_message = "rerank_model_id must be amazon.rerank-v1:0 or cohere.rerank-v3-5:0."
  }
}

variable "opensearch_index_name" {
  type        = string
  description = "Index of document chunks in the collection (QUARRY_OPENSEARCH_INDEX)."
  default     = "quarry-chunks"
}

variable "reembed_principals" {
  type        = list(string)
  description = "IAM role/user ARNs of the operators who run a re-embed (docs/DEPLOY.md, Re-embedding): admitted to create chunk indexes and move the alias. Empty: none."
  default     = []
}

variable "opensearch_standby_replicas" {
  type        = string
  description = "ENABLED keeps standby replicas in another AZ (production); DISABLED halves the minimum OCUs (development)."
  default     = "ENABLED"
  validation {
    condition     = contains(["ENABLED", "DISABLED"], var.opensearch_standby_replicas)
    error_message = "opensearch_standby_replicas must be ENABLED or DISABLED."
  }
}

variable "api_logging_level" {
  type        = string
  description = "API Gateway execution logging: ERROR or INFO."
  default     = "ERROR"
  validation {
    condition     = contains(["ERROR", "INFO"], var.api_logging_level)
    error_message = "api_logging_level must be ERROR or INFO."
  }
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "Steady-state requests per second the API stage accepts, every method and tenant together: the outer limit in front of the per-tenant limits."
  default     = 50
  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be above 0: API Gateway reads 0 as refusing every request, -1 as no limit."
  }
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "Burst of requests the API stage accepts above the rate limit."
  default     = 100
  validation {
    condition     = var.api_throttling_burst_limit >= 1
    error_message = "api_throttling_burst_limit must be at least 1."
  }
}

variable "api_waf_web_acl_arn" {
  type        = string
  description = "ARN of a regional WAFv2 web ACL to attach to the API stage; null attaches none."
  default     = null
}

variable "manage_api_gateway_account" {
  type        = bool
  description = "Create the account-level CloudWatch Logs role of API Gateway in this Region (needed for access logs). Set false if another stack manages it."
  default     = true
}

variable "enable_vpc_endpoints" {
  type        = bool
  description = "Run the functions in vpc_subnet_ids and reach S3, DynamoDB, SQS, Bedrock and the collection through VPC endpoints."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "VPC for the functions and the endpoints (with enable_vpc_endpoints)."
  default     = null
}

variable "vpc_subnet_ids" {
  type        = list(string)
  description = "Private subnets for the functions and the interface endpoints (with enable_vpc_endpoints)."
  default     = []
}

variable "vpc_route_table_ids" {
  type        = list(string)
  description = "Route tables of vpc_subnet_ids, for the S3 and DynamoDB gateway endpoints (with enable_vpc_endpoints)."
  default     = []
}

# --- sign-in (infra/auth.tf) -------------------------------------------------------------------

variable "auth_issuer" {
  type        = string
  description = "Issuer (iss claim) of an existing identity provider whose tokens the API accepts (QUARRY_AUTH_ISSUER). null creates a Cognito user pool and app client."
  default     = null
}

variable "auth_audience" {
  type        = string
  description = "Audience (aud claim, the app client id) of the tokens of auth_issuer (QUARRY_AUTH_AUDIENCE); required with auth_issuer."
  default     = null
}

variable "auth_jwks_url" {
  type        = string
  description = "Where the issuer publishes its signing keys (QUARRY_AUTH_JWKS_URL); null means {issuer}/.well-known/jwks.json (right for Cognito)."
  default     = null
}

variable "auth_token_use" {
  type        = string
  description = "token_use claim the API requires (QUARRY_AUTH_TOKEN_USE): id for Cognito ID tokens, none for an OIDC issuer whose tokens have no such claim."
  default     = "id"
  validation {
    condition     = contains(["id", "access", "none"], var.auth_token_use)
    error_message = "auth_token_use must be id, access or none."
  }
}

variable "auth_tenant_claim" {
  type        = string
  description = "Claim of the token naming the caller's tenant (QUARRY_AUTH_TENANT_CLAIM)."
  default     = "custom:tenant"
}

variable "cognito_user_pool_arn" {
  type        = string
  description = "With auth_issuer naming an existing Cognito user pool: that pool's ARN, for the API Gateway Cognito authorizer. null with another OIDC issuer: the gateway then checks no token and the app's check is the only one."
  default     = null
}

variable "user_pool_deletion_protection" {
  type        = bool
  description = "Refuse to delete the Cognito user pool, and its users with it (set false before destroying a stage)."
  default     = true
}

variable "user_pool_advanced_security_mode" {
  type        = string
  description = "Cognito threat protection (advanced security): OFF, AUDIT or ENFORCED. AUDIT and ENFORCED put the pool on the Plus feature plan, billed per monthly active user."
  default     = "OFF"
  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.user_pool_advanced_security_mode)
    error_message = "user_pool_advanced_security_mode must be OFF, AUDIT or ENFORCED."
  }
}

variable "user_pool_password_minimum_length" {
  type        = number
  description = "Shortest password the user pool accepts (upper and lower case, a digit and a symbol are also required)."
  default     = 12
  validation {
    condition     = var.user_pool_password_minimum_length >= 8 && var.user_pool_password_minimum_length <= 99
    error_message = "user_pool_password_minimum_length must be between 8 and 99."
  }
}

variable "id_token_validity_minutes" {
  type        = number
  description = "Lifetime of the ID (and access) tokens the app client issues, in minutes (5 to 1440); clients refresh with their refresh token."
  default     = 60
  validation {
    condition     = var.id_token_validity_minutes >= 5 && var.id_token_validity_minutes <= 1440
    error_message = "id_token_validity_minutes must be between 5 and 1440."
  }
}

variable "refresh_token_validity_days" {
  type        = number
  description = "Lifetime of the app client's refresh tokens, in days (1 to 3650): how long a sign-in lasts."
  default     = 30
  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650
    error_message = "refresh_token_validity_days must be between 1 and 3650."
  }
}

variable "web_origin" {
  type        = string
  description = "Origin of the web page that calls the API from a browser (https://app.example.com, QUARRY_WEB_ORIGIN); the API answers CORS for it alone. Empty: no CORS."
  default     = ""
  validation {
    condition     = var.web_origin == "" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.web_origin))
    error_message = "web_origin must be empty or an origin: scheme, host and optional port, no path and no trailing slash."
  }
}

variable "sweep_delay_seconds" {
  type        = number
  description = "How long after a write or delete of a document's chunks its sweep runs (QUARRY_SWEEP_DELAY_S): past OpenSearch Serverless's ~60 s visibility lag, at most the SQS delay limit of 900 s."
  default     = 180
  validation {
    condition     = var.sweep_delay_seconds >= 120 && var.sweep_delay_seconds <= 900
    error_message = "sweep_delay_seconds must be between 120 and 900."
  }
}

variable "sweep_max_concurrency" {
  type        = number
  description = "Most concurrent sweep functions the sweep queue's event source starts (2-1000)."
  default     = 2
  validation {
    condition     = var.sweep_max_concurrency >= 2 && var.sweep_max_concurrency <= 1000
    error_message = "sweep_max_concurrency must be between 2 and 1000."
  }
}
