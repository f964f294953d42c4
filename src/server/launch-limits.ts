// Defaults of serve's study launches that the command line shows in its help without loading the server.

/** Launched searches running at once, at most, unless serve says otherwise. */
export const DEFAULT_MAX_LAUNCHES = 2;
