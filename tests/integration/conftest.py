from tests.emulators import emulator_env, emulator_logs, firestore_emulator, project_id, pubsub_emulator

__all__ = ["emulator_env", "emulator_logs", "firestore_emulator", "project_id", "pubsub_emulator"]
