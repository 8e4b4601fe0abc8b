// Placeholder until the daemon issue.
console.log('daemon: not implemented yet');
