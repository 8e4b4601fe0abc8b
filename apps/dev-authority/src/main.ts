console.log('dev-authority: not implemented yet');
