// The TypeScript client against a live mmstack server, with Node's test runner. The
// server is started by tests/client/test_typescript_client.py, which passes its address,
// an API key, the first administrator's login and a collection ready for a knowledge model:
//   MMSTACK_URL, MMSTACK_KEY, MMSTACK_ADMIN, MMSTACK_ADMIN_PASSWORD, MMSTACK_KNOWLEDGE_MODEL

import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { MmstackError, createClient } from "../dist/index.js";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run these tests through tests/client/test_typescript_client.py`);
  return value;
};
const baseUrl = env("MMSTACK_URL");
const apiKey = env("MMSTACK_KEY");

const GUIDE = `# Travel guide

Staff book trains for trips under 600 km and flights beyond that.
Receipts go to the finance team within ten days of the trip.
`;

test("collections, uploads and search", async () => {
  const mm = createClient({ baseUrl, apiKey });
  const created = await mm.createCollection("ts-travel", "How staff travel");
  assert.equal(created.name, "ts-travel");
  const uploaded = await mm.upload(created.id, [{ name: "guide.md", data: GUIDE }], {
    tags: ["policy"],
  });
  assert.equal(uploaded.length, 1);
  assert.deepEqual(uploaded[0].tags, ["policy"]);
  const [done] = await mm.waitForFiles(created.id, [uploaded[0].id], { timeoutMs: 120_000 });
  assert.equal(done.status, "completed");
  assert.equal((await mm.getCollection("ts-travel")).file_counts.completed, 1);
  assert.deepEqual((await mm.listFiles(created.id)).map((f) => f.filename), ["guide.md"]);

  const found = await mm.search("when do receipts go to finance?", {
    collections: [created.id],
    top_k: 3,
  });
  assert.equal(found.data[0].filename, "guide.md");
  assert.match(found.data[0].text, /ten days/);
  assert.ok((await mm.listJobs()).length > 0);
  assert.ok((await mm.usage()).length > 0);

  // The typed API underneath reaches every route.
  const passages = await mm.api.GET("/api/collections/{collection}/files/{file_id}/passages", {
    params: { path: { collection: created.id, file_id: uploaded[0].id } },
  });
  assert.equal(passages.response.status, 200);
  assert.match(passages.data.data[0].text, /600 km/);
  await mm.deleteCollection(created.id);
});

test("errors carry the server's status, code and message", async () => {
  const mm = createClient({ baseUrl, apiKey });
  await assert.rejects(mm.getCollection("no-such-collection"), (error) => {
    assert.ok(error instanceof MmstackError);
    assert.equal(error.status, 404);
    assert.equal(error.param, "collection");
    assert.match(error.message, /no-such-collection/);
    return true;
  });
  const stranger = createClient({ baseUrl });
  await assert.rejects(stranger.listCollections(), (error) => error.status === 401);
});

test("an administrator logs in and lists users", async () => {
  const admin = createClient({ baseUrl });
  const tokens = await admin.login(env("MMSTACK_ADMIN"), env("MMSTACK_ADMIN_PASSWORD"));
  assert.ok(tokens.access_token);
  const users = await admin.api.GET("/api/users");
  assert.equal(users.response.status, 200);
  assert.ok(users.data.data.some((user) => user.username === env("MMSTACK_ADMIN")));
});

test("the openai package gets url_citation and file_citation from a knowledge model", async () => {
  const model = env("MMSTACK_KNOWLEDGE_MODEL");
  const openai = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: 0 });
  const question = "On what date was the cooling pump of the Aurora-7 station replaced?";
  const completion = await openai.chat.completions.create({
    model,
    messages: [{ role: "user", content: question }],
    max_tokens: 48,
    temperature: 0,
  });
  const message = completion.choices[0].message;
  assert.match(message.content, /12 March 2024/);
  const kinds = new Set(message.annotations.map((a) => a.type));
  assert.deepEqual(kinds, new Set(["file_citation", "url_citation"]));
  const link = message.annotations.find((a) => a.type === "url_citation").url_citation;
  assert.ok(link.url.startsWith(`${baseUrl}/cite/`));
  const page = await fetch(link.url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<mark>[^<]*12 March 2024/);

  const response = await openai.responses.create({
    model,
    input: question,
    max_output_tokens: 48,
    temperature: 0,
  });
  assert.match(response.output_text, /12 March 2024/);
  const text = response.output.at(-1).content[0];
  const types = new Set(text.annotations.map((a) => a.type));
  assert.ok(types.has("url_citation") && types.has("file_citation"));
});
