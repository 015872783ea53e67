variable "project_id" {
  description = "GCP project that hosts this environment."
  type        = string
}

variable "region" {
  description = "Region for functions, Cloud Run, Scheduler and the VM's subnet."
  type        = string
}

variable "zone" {
  description = "Zone of the IB Gateway VM."
  type        = string
}

variable "environment" {
  description = "staging or production; signals must carry the same value."
  type        = string
  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "build_dir" {
  description = "Where `python -m devstack.package_functions` wrote the zips and manifest.json."
  type        = string
}

variable "gateway_bundle" {
  description = "Path of the gateway_vm bundle (gateway_vm/ and shared/) the VM installs at boot."
  type        = string
}

variable "risk_limits" {
  description = "Cerebro's limits, passed to every function as environment variables."
  type = object({
    max_position_size_pct               = number
    max_broker_allocation_pct           = number
    max_account_data_age_seconds        = number
    price_collar_pct                    = number
    max_price_age_seconds               = number
    max_order_notional                  = number
    max_signals_per_second_per_strategy = number
    max_orders_per_second_per_account   = number
    daily_loss_limit_pct                = number
  })
}

variable "latency_critical_min_instances" {
  description = "Warm instances for webhook, cerebro and execution (cold starts cost seconds)."
  type        = number
  default     = 1
}

variable "dashboard_image" {
  description = "Container image of the Streamlit dashboards, built by Cloud Build."
  type        = string
}

variable "dashboard_invokers" {
  description = "Principals allowed to open the dashboards (e.g. group:fund-admins@example.com)."
  type        = list(string)
  default     = []
}

variable "gateway_machine_type" {
  description = "Machine type of the always-on IB Gateway VM."
  type        = string
  default     = "e2-small"
}

variable "telegram_chat_id" {
  description = "Chat that receives this environment's alerts (a separate staging chat for staging)."
  type        = string
}

variable "webhook_ip_allowlist" {
  description = "Comma-separated sources the webhook accepts; 'tradingview' expands to TradingView's documented IPs; empty accepts any source."
  type        = string
  default     = "tradingview"
}

variable "poll_schedule" {
  description = "Cron schedule (UTC) of the account poller."
  type        = string
  default     = "* * * * *"
}

variable "dashboard_refresh_schedule" {
  description = "Cron schedule (UTC) of the full dashboard refresh."
  type        = string
  default     = "*/5 * * * *"
}

variable "daily_summary_schedule" {
  description = "Cron schedule (New York time) of the Telegram daily summary."
  type        = string
  default     = "30 16 * * 1-5"
}
