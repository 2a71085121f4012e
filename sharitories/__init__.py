"""The Sharitories platform: its command line and process supervisor."""
