output "webhook_url" {
  description = "Paste into TradingView's alert Webhook URL (append /webhook)."
  value       = "${module.function["webhook"].uri}/webhook"
}

output "function_urls" {
  description = "Every function's URL."
  value       = { for name, fn in module.function : name => fn.uri }
}

output "dashboards_url" {
  description = "The Streamlit dashboards (authenticated)."
  value       = google_cloud_run_v2_service.dashboards.uri
}

output "gateway_vm_name" {
  description = "The IB Gateway VM (reach it with IAP: gcloud compute ssh --tunnel-through-iap)."
  value       = module.gateway_vm.instance_name
}

output "registry_url" {
  description = "The registry API (strategies, portfolio, allocation, admin): MT_API_URL for devstack.registry_cli."
  value       = module.function["strategy_registry"].uri
}
