// validate.mjs — check an OpenAPI document against the official OpenAPI
// JSON schema of its declared version (@seriousme/openapi-schema-validator).
// Prints "valid <version>" and exits 0, or prints the errors and exits 1.
import { Validator } from "@seriousme/openapi-schema-validator";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
const validator = new Validator();
const res = await validator.validate(file);
if (!res.valid) {
  console.log(JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
console.log("valid " + validator.version);
