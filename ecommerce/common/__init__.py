"""Small pieces every app shares: domain errors, money, API error handling, pagination."""
