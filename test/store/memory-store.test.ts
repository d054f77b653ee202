import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('memory', async (options) => new MemoryStore(options));
