import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Common } from './common.ts';
import { ApiError } from './errors.ts';

/**
 * Failures that happen before a route is found (fastify's frameworkErrors) or before a
 * request exists at all (node's clientError: a request line or headers too large, a
 * malformed request). Fastify answers both in its own shape by default; these answer in
 * our envelope with the headers every response carries, and never echo the path.
 */
export function frameworkErrors(common: Common) {
  return (error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
    const answer =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new ApiError(404, 'No such resource: an id in the path is far longer than any id', 'not_found_error', 'not_found')
        : new ApiError(400, 'The request path is not a valid URL path', 'invalid_request_error', 'invalid_url');
    const headers: Record<string, string> = {};
    common.addHeaders(headers, request.headers, request.id);
    return reply.status(answer.status).headers(headers).send(answer.toBody());
  };
}

const CLIENT_ERRORS: Record<string, { status: number; text: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, text: 'Request Header Fields Too Large', code: 'headers_too_large', message: 'The request line and headers are larger than 16 KiB' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, text: 'Request Timeout', code: 'request_timeout', message: 'The request took too long to arrive' },
};

export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = error.code ? CLIENT_ERRORS[error.code] : undefined;
  const { status, text, code, message } = known ?? { status: 400, text: 'Bad Request', code: 'malformed_request', message: 'The request is not valid HTTP' };
  const body = JSON.stringify(new ApiError(status, message, 'invalid_request_error', code).toBody());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
