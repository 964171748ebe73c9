"""Campaigns (精准营销): definitions, offers, personalised messages, channels, timing, consent,
control groups, launches, triggered journeys, the strategy playbook and reports (issue 6)."""
