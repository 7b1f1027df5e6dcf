package postgres

// Migrations gives the tests the embedded migrations.
var Migrations = migrations
