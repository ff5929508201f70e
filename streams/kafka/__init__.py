"""Kafka adapters built on confluent-kafka (admin, producers, consumers)."""
