import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it, vi } from 'vitest';
import { emitSafe } from '../src/logging.js';
import { CaptureLogger } from './support/capture-logger.js';

describe('hot-path records', () => {
  it('are not built for a Powertools Logger that would drop DEBUG', () => {
    // Prepare
    const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' });
    const debug = vi.spyOn(logger, 'debug');

    // Act
    emitSafe(logger, 'debug', 'session.started', 'Started', { requestId: 'r1' });
    logger.setLogLevel('DEBUG');
    emitSafe(logger, 'debug', 'session.started', 'Started', { requestId: 'r2' });

    // Assess
    expect(debug.mock.calls.map((call) => (call[1] as { mongodb: { requestId: string } }).mongodb.requestId)).toEqual(['r2']);
  });

  it('reach a Powertools Logger that buffers DEBUG records, and any other logger', () => {
    // Prepare
    const buffering = new Logger({ serviceName: 'test', logLevel: 'INFO', logBufferOptions: { enabled: true, bufferAtVerbosity: 'DEBUG' } });
    const debug = vi.spyOn(buffering, 'debug');
    const capture = new CaptureLogger();

    // Act
    emitSafe(buffering, 'debug', 'session.ended', 'Ended', { requestId: 'r1' });
    emitSafe(capture, 'debug', 'session.ended', 'Ended', { requestId: 'r1' });

    // Assess
    expect(debug).toHaveBeenCalledTimes(1);
    expect(capture.events()).toEqual(['session.ended']);
  });
});
