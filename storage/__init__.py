"""Object store, record index and audit trail."""
