"""Operations: the store's schema, backup and restore, health and metrics, services' stop signal, logs."""
