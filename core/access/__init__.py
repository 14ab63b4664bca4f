"""Who may do what: roles, the policy and its rules, the audit trail and the activity list."""
