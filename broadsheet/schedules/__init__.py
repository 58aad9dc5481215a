"""Report schedules: cadences in a time zone, the ticker that fires them, their executions."""
