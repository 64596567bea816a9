/**
 * Path ids: MongoDB ObjectIds written as 24 hex digits.
 */
import { ObjectId } from 'mongodb';
import { HttpError, HttpErrorCodes } from './http-error.js';

const OBJECT_ID = /^[0-9a-f]{24}$/i;

/**
 * The ObjectId in a path parameter.
 * @throws {HttpError} 400 `INVALID_ID` for anything but 24 hex digits (`ObjectId.isValid` would also take any 12-character string)
 */
export function parseObjectId(value: string | undefined, field = 'id'): ObjectId {
  if (value === undefined || !OBJECT_ID.test(value)) {
    throw new HttpError(400, HttpErrorCodes.INVALID_ID, `"${field}" must be 24 hexadecimal digits`, field);
  }
  return ObjectId.createFromHexString(value);
}
