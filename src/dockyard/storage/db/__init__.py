"""The metadata database: schema, engine set-up, transactions and migrations."""
