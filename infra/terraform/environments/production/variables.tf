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
  description = "Who may open the dashboards."
  type        = list(string)
  default     = []
}

variable "telegram_chat_id" {
  description = "Telegram chat for production alerts."
  type        = string
}
