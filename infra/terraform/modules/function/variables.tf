variable "project_id" {
  description = "GCP project."
  type        = string
}

variable "region" {
  description = "Region of the function."
  type        = string
}

variable "environment" {
  description = "staging or production (prefixes the function name)."
  type        = string
}

variable "name" {
  description = "Function name as in functions/<name>/main.py."
  type        = string
}

variable "entry_point" {
  description = "The decorated Python function to serve."
  type        = string
}

variable "source_bucket" {
  description = "Bucket holding the function zip."
  type        = string
}

variable "source_object" {
  description = "Zip object name (content-hashed)."
  type        = string
}

variable "environment_variables" {
  description = "Plain settings (shared/config.py)."
  type        = map(string)
}

variable "secrets" {
  description = "Environment variable name -> Secret Manager secret id."
  type        = map(string)
  default     = {}
}

variable "min_instances" {
  description = "Warm instances kept for latency."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound on instances."
  type        = number
  default     = 20
}

variable "memory" {
  description = "Memory per instance."
  type        = string
  default     = "512M"
}

variable "timeout_seconds" {
  description = "Request timeout; Pub/Sub push waits this long at most."
  type        = number
  default     = 60
}

variable "public" {
  description = "Whether the internet may call it (only the webhook)."
  type        = bool
  default     = false
}

variable "service_account_email" {
  description = "The function's own least-privilege identity."
  type        = string
}

variable "firestore_document" {
  description = "Document path pattern (e.g. trading_signals_raw/{doc}) whose creations trigger the function through Eventarc; null: not Firestore-triggered."
  type        = string
  default     = null
}

variable "firestore_database" {
  description = "The Firestore database a firestore_document trigger watches."
  type        = string
  default     = "(default)"
}
