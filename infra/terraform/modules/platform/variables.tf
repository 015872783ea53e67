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
  description = "Principals IAP lets open the dashboards (user:alice@yourfund.com, group:fund-admins@yourfund.com)."
  type        = list(string)
  validation {
    condition     = length(var.dashboard_invokers) > 0 && alltrue([for m in var.dashboard_invokers : can(regex("^(user|group|domain|serviceAccount):", m)) && !endswith(m, "example.com")])
    error_message = "dashboard_invokers: at least one user:, group:, domain: or serviceAccount: principal, and not the example.com placeholder."
  }
}

variable "configured_secrets" {
  description = "Secrets (ids without the environment prefix, e.g. telegram-bot-token) that have a version: only these are mounted into the functions."
  type        = list(string)
  default     = []
}

variable "alert_emails" {
  description = "Addresses the alert policies and the budget notify (one email notification channel each)."
  type        = list(string)
  validation {
    condition     = length(var.alert_emails) > 0 && alltrue([for a in var.alert_emails : can(regex("^[^@ ]+@[^@ ]+$", a)) && !endswith(a, "example.com")])
    error_message = "alert_emails: at least one real address (not the example.com placeholder)."
  }
}

variable "notification_channels" {
  description = "Further existing Monitoring notification channel ids (projects/.../notificationChannels/...) for the alerts."
  type        = list(string)
  default     = []
}

variable "billing_account" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) for the budget; empty: no budget."
  type        = string
  default     = ""
}

variable "monthly_budget" {
  description = "Monthly budget for this project, in the billing account's currency."
  type        = number
  default     = 300
}

variable "alert_thresholds" {
  description = "When the alert policies fire."
  type = object({
    function_5xx_per_5min = number # answers 5xx (a retried delivery counts) across the functions
    order_latency_p99_ms  = number # execution's request latency: placing an order at the broker
  })
  default = {
    function_5xx_per_5min = 10
    order_latency_p99_ms  = 5000
  }
}

variable "gateway_machine_type" {
  description = "Machine type of the always-on IB Gateway VM."
  type        = string
  default     = "e2-small"
}

variable "telegram_chat_id" {
  description = "Chat that receives this environment's alerts (a separate staging chat for staging)."
  type        = string
  validation {
    condition     = can(regex("^-?[0-9]+$", var.telegram_chat_id))
    error_message = "telegram_chat_id is the chat's numeric id (e.g. -1001234567890): set it in the environment's terraform.tfvars."
  }
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
