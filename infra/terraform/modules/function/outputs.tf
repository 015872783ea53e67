output "uri" {
  description = "HTTPS URL of the function."
  value       = local.function.service_config[0].uri
}

output "service" {
  description = "Cloud Run service behind the function (for invoker IAM)."
  value       = local.function.service_config[0].service
}
