output "uri" {
  description = "HTTPS URL of the function."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service" {
  description = "Cloud Run service behind the function (for invoker IAM)."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}
