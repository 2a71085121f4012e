"""Debate: comments on proposals and campaigns, reports from residents, moderation by staff."""
