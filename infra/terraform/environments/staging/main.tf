terraform {
  required_version = ">= 1.6"
  backend "gcs" {
    prefix = "mathematricks/staging"
  }
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.30, < 7.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.30, < 7.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

module "platform" {
  source = "../../modules/platform"

  project_id         = var.project_id
  region             = var.region
  zone               = var.zone
  environment        = "staging"
  build_dir          = var.build_dir
  gateway_bundle     = "${var.build_dir}/gateway_vm.zip"
  dashboard_image    = var.dashboard_image
  dashboard_invokers = var.dashboard_invokers
  telegram_chat_id   = var.telegram_chat_id
  configured_secrets = var.configured_secrets
  alert_emails       = var.alert_emails
  billing_account    = var.billing_account
  monthly_budget     = var.monthly_budget
  risk_limits = {
    max_position_size_pct               = 10
    max_broker_allocation_pct           = 40
    max_account_data_age_seconds        = 300
    price_collar_pct                    = 5
    max_price_age_seconds               = 120
    max_order_notional                  = 5000000
    max_signals_per_second_per_strategy = 50
    max_orders_per_second_per_account   = 100
    daily_loss_limit_pct                = 5
  }
}

output "webhook_url" {
  description = "TradingView's alert Webhook URL."
  value       = module.platform.webhook_url
}

output "dashboards_url" {
  description = "The dashboards."
  value       = module.platform.dashboards_url
}

output "registry_url" {
  description = "The registry API."
  value       = module.platform.registry_url
}
