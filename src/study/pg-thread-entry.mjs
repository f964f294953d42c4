// Worker threads do not inherit the main thread's TypeScript loader: register it, then load.
import { register } from 'tsx/esm/api';

register();
await import('./pg-thread.ts');
