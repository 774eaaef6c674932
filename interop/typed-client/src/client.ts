// A TypeScript frontend's calls to todo-api through openapi-fetch, typed by what
// openapi-typescript generates from the API's /openapi.json (src/api.d.ts, written by the
// command in the frontend guide, docs/frontend.md). `tsc --strict` must accept every call as a
// frontend writes it; run, the client makes each call once against a live API and checks its
// status.
//
// usage: TODO_API_URL=... TODO_API_TOKEN=... node dist/client.js
// Prints one JSON line: {calls: [{method, path, status}], results: {...}}, where `path` is
// the OpenAPI path template the call went to. Exits non-zero on the first unexpected status.

import createClient from "openapi-fetch";
import type { paths } from "./api";

const baseUrl = process.env.TODO_API_URL;
const token = process.env.TODO_API_TOKEN;
if (!baseUrl || !token) {
  console.error("TODO_API_URL and TODO_API_TOKEN are required");
  process.exit(2);
}

const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

const calls: { method: string; path: string; status: number }[] = [];
api.use({
  onResponse({ request, response, schemaPath }) {
    calls.push({ method: request.method, path: schemaPath, status: response.status });
  },
});

interface Outcome {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The call's outcome, once its status is the expected one. */
async function expectStatus<O extends Outcome>(status: number, call: Promise<O>): Promise<O> {
  const outcome = await call;
  const { response } = outcome;
  if (response.status !== status) {
    const body = JSON.stringify(outcome.data ?? outcome.error);
    throw new Error(`${response.url}: ${response.status} (expected ${status}): ${body}`);
  }
  return outcome;
}

/** The response body of a call that must succeed with this status. */
async function expectData<T>(
  status: number,
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data } = await expectStatus(status, call);
  if (data === undefined) throw new Error(`status ${status} came without a body`);
  return data;
}

function nextCursor(response: Response): string {
  const link = response.headers.get("Link") ?? "";
  const target = /<([^>]*)>;\s*rel="next"/.exec(link)?.[1];
  const cursor = target && new URL(target, baseUrl).searchParams.get("cursor");
  if (!cursor) throw new Error(`no next cursor in Link: ${link}`);
  return cursor;
}

const before = await expectData(200, api.GET("/api/me"));
const user_id: string = before.user_id;

// Create with only what a new-task form has.
const milk = await expectData(201, api.POST("/api/tasks", { body: { title: "Buy milk" } }));
const bread = await expectData(
  201,
  api.POST("/api/tasks", { body: { title: "Buy bread", description: "Sourdough" } }),
);

// A page of one, then the next page through the cursor in the Link header.
const query = { status: "pending", sort: "-created_at", q: "buy", limit: 1 } as const;
const firstPage = await expectStatus(200, api.GET("/api/tasks", { params: { query } }));
const cursor = nextCursor(firstPage.response);
const secondPage = await expectData(
  200,
  api.GET("/api/tasks", { params: { query: { ...query, cursor } } }),
);
const listed: number[] = [...(firstPage.data ?? []), ...secondPage].map((task) => task.id);

const task_id: number = milk.id;
const path = { task_id };
const read = await expectStatus(200, api.GET("/api/tasks/{task_id}", { params: { path } }));
const etag = read.response.headers.get("ETag") ?? "";
const notModified = { path, header: { "if-none-match": etag } };
await expectStatus(304, api.GET("/api/tasks/{task_id}", { params: notModified }));

// Edits send one field; the rest stays as it is.
const renamed = await expectData(
  200,
  api.PUT("/api/tasks/{task_id}", { params: { path }, body: { title: "Buy oat milk" } }),
);
const described = await expectData(
  200,
  api.PATCH("/api/tasks/{task_id}", { params: { path }, body: { description: "2 litres" } }),
);
// Or the task as read, sent back whole with the change (its version acts as If-Match).
const edited = await expectData(
  200,
  api.PUT("/api/tasks/{task_id}", { params: { path }, body: { ...described, title: "Oat milk" } }),
);
const toggled = await expectData(
  200,
  api.PATCH("/api/tasks/{task_id}/complete", { params: { path } }),
);
const completed = await expectData(
  200,
  api.PATCH("/api/tasks/{task_id}/complete", { params: { path }, body: { completed: true } }),
);
// Another tab's copy, older than what the server has now: refused, nothing changes.
const stale = await expectStatus(
  412,
  api.PATCH("/api/tasks/{task_id}", {
    params: { path, header: { "if-match": etag } },
    body: { title: "From a stale tab" },
  }),
);
const staleTitle: string | undefined = stale.error?.title;

await expectStatus(204, api.DELETE("/api/tasks/{task_id}", { params: { path } }));
await expectStatus(404, api.GET("/api/tasks/{task_id}", { params: { path } }));

// The hackathon frontends' paths: the user id in the path, the same operations.
const mine = { user_id };
const someoneElse = { path: { user_id: `${user_id}-x` } };
await expectStatus(403, api.GET("/api/{user_id}/tasks", { params: someoneElse }));
const compatListed = await expectData(
  200,
  api.GET("/api/{user_id}/tasks", { params: { path: mine } }),
);
const eggs = await expectData(
  201,
  api.POST("/api/{user_id}/tasks", { params: { path: mine }, body: { title: "Buy eggs" } }),
);
const compat = { path: { user_id, task_id: eggs.id } };
await expectData(200, api.GET("/api/{user_id}/tasks/{task_id}", { params: compat }));
await expectData(
  200,
  api.PUT("/api/{user_id}/tasks/{task_id}", { params: compat, body: { title: "Buy 6 eggs" } }),
);
await expectData(
  200,
  api.PATCH("/api/{user_id}/tasks/{task_id}", { params: compat, body: { completed: true } }),
);
await expectData(200, api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: compat }));
await expectStatus(204, api.DELETE("/api/{user_id}/tasks/{task_id}", { params: compat }));

// Planning: the user's time zone, then tasks with a due, tags, a priority, reminders and a
// recurrence, as a planner form sends them.
const berlin = { time_zone: "Europe/Berlin" };
const zone = await expectData(200, api.PATCH("/api/me", { body: berlin }));
const timeZone: string = zone.time_zone;
const inTwoHours = new Date(Date.now() + 2 * 3600_000).toISOString();
const plumber = await expectData(
  201,
  api.POST("/api/tasks", {
    body: {
      title: "Call the plumber",
      priority: "high",
      due_at: inTwoHours,
      tags: ["home", "Errands"],
      reminders: ["PT1H"],
    },
  }),
);
const rent = await expectData(
  201,
  api.POST("/api/tasks", {
    body: { title: "Pay rent", due_date: "2026-04-01", recurrence: "FREQ=MONTHLY;BYMONTHDAY=1" },
  }),
);
const rentPath = { path: { task_id: rent.id } };
const replanned = await expectData(
  200,
  api.PATCH("/api/tasks/{task_id}", {
    params: rentPath,
    body: { priority: "urgent", tags: ["home"], description: null },
  }),
);
// Completing a recurring task moves it to its next occurrence; it stays open.
const advanced = await expectData(
  200,
  api.PATCH("/api/tasks/{task_id}/complete", { params: rentPath, body: { completed: true } }),
);
if (advanced.completed || advanced.due_date !== "2026-05-01" || advanced.completed_at !== null) {
  throw new Error(`completing the rent did not advance it: ${JSON.stringify(advanced)}`);
}

// The manual order: new tasks come first (rent, then the plumber); rent goes below the plumber,
// then back to the top through the frontends' path.
const movedBelow = await expectData(
  200,
  api.POST("/api/tasks/{task_id}/move", { params: rentPath, body: { after: plumber.id } }),
);
const movedUp = await expectData(
  200,
  api.POST("/api/{user_id}/tasks/{task_id}/move", {
    params: { path: { user_id, task_id: rent.id } },
    body: { to: "top" },
  }),
);
const planning = {
  sort: "position",
  tag: "HOME",
  priority: "high,urgent",
  due: "any",
  due_from: "2026-01-01",
  due_to: "2099-12-31",
} as const;
const manual = await expectData(200, api.GET("/api/tasks", { params: { query: planning } }));
const byDue = await expectData(
  200,
  api.GET("/api/tasks", { params: { query: { sort: "-due", status: "pending", due: "any" } } }),
);
const reminders = await expectData(
  200,
  api.GET("/api/reminders", {
    params: {
      query: {
        from: new Date().toISOString(),
        until: new Date(Date.now() + 86400_000).toISOString(),
      },
    },
  }),
);
const reminded: { task_id: number; remind_at: string }[] = reminders.map(
  ({ task_id, remind_at }) => ({ task_id, remind_at }),
);
const expected = {
  manual: [rent.id, plumber.id],
  byDue: [plumber.id, rent.id],
  reminded: [plumber.id],
};
const got = {
  manual: manual.map((task) => task.id),
  byDue: byDue.map((task) => task.id),
  reminded: reminded.map((reminder) => reminder.task_id),
};
if (JSON.stringify(got) !== JSON.stringify(expected)) {
  const [actual, wanted] = [got, expected].map((value) => JSON.stringify(value));
  throw new Error(`planning listings: ${actual}, expected ${wanted}`);
}
for (const task of [plumber, rent]) {
  const done = { params: { path: { task_id: task.id } } };
  await expectStatus(204, api.DELETE("/api/tasks/{task_id}", done));
}

const after = await expectData(200, api.GET("/api/me"));
const remaining: number = after.tasks.total;

console.log(
  JSON.stringify({
    calls,
    results: {
      user_id,
      milk,
      bread,
      listed,
      renamed: renamed.title,
      described: described.description,
      edited: [edited.title, edited.description, edited.version - described.version],
      toggled: toggled.completed,
      completed: completed.completed,
      staleTitle,
      compatListed: compatListed.map((task) => task.id),
      planning: {
        timeZone,
        plumber: [plumber.priority, plumber.due_at, plumber.tags, plumber.reminders],
        replanned: [replanned.priority, replanned.tags, replanned.recurrence],
        advanced: [advanced.due_date, advanced.version - replanned.version],
        positions: [movedBelow.position > plumber.position, movedUp.position < plumber.position],
        listed: got,
        reminded,
      },
      remaining,
    },
  }),
);
