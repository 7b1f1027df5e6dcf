package postgres

// Migrations gives the tests the embedded migrations.
var Migrations = migrations

// The push statements, for TestPushPlans.
var PushStatements = map[string]string{"claim": claimSQL, "later": laterSQL, "pending": pendingSQL}

// AckTransactions returns how many ack transactions q has committed.
func AckTransactions(q *Queue) int64 { return q.acked.n.Load() }
