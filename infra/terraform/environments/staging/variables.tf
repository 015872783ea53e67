variable "project_id" {
  description = "GCP project of this environment."
  type        = string
}

variable "region" {
  description = "Region."
  type        = string
  default     = "us-central1"
}

variable "zone" {
  description = "Zone of the IB Gateway VM."
  type        = string
  default     = "us-central1-a"
}

variable "build_dir" {
  description = "Output of `python -m devstack.package_functions` (and the gateway bundle)."
  type        = string
  default     = "../../../../build/functions"
}

variable "dashboard_image" {
  description = "Dashboards image built by Cloud Build."
  type        = string
}

variable "dashboard_invokers" {
  description = "Who IAP lets open the dashboards (terraform.tfvars)."
  type        = list(string)
}

variable "configured_secrets" {
  description = "Secrets that have a version and are mounted into the functions (terraform.tfvars)."
  type        = list(string)
}

variable "alert_emails" {
  description = "Where alerts and budget mails go (terraform.tfvars)."
  type        = list(string)
}

variable "billing_account" {
  description = "Billing account of the budget; empty: no budget (terraform.tfvars)."
  type        = string
}

variable "monthly_budget" {
  description = "Monthly budget (terraform.tfvars)."
  type        = number
}

variable "telegram_chat_id" {
  description = "Telegram chat for staging alerts (terraform.tfvars)."
  type        = string
}
