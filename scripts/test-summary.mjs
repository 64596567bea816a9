#!/usr/bin/env node
// Prints vitest's JSON report as one plain closing line, "N passed, N failed, N skipped", for CI logs.
// Usage: node scripts/test-summary.mjs <report.json> [label]
import { readFileSync } from 'node:fs';

const [file, label] = process.argv.slice(2);
const report = JSON.parse(readFileSync(file, 'utf8'));
const line = `${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped`;
console.log(label ? `${label}: ${line}` : line);
process.exit(report.success && report.numTotalTests > 0 ? 0 : 1);
