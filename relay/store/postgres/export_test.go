package postgres

// Migrations gives the tests the embedded migrations.
var Migrations = migrations

// The push statements, for TestPushPlans.
var PushStatements = map[string]string{"claim": claimSQL, "later": laterSQL, "pending": pendingSQL}
