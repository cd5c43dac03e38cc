import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type FakeXai, startFakeXai } from './fakes/xai.ts';
import { TEST_STORE } from './support/database.ts';
import { ADMIN_KEY, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';

/**
 * The web console in Debian's Chromium, driven by Playwright: the operator makes a key, the
 * user makes a video in the playground and watches it render and play, finds it among the
 * tasks with its thumbnail, then the operator revokes the key and the user is refused.
 * Every page is photographed at desktop and phone width into test/screenshots/ (not kept
 * in git) to be looked at; no page may ask anything of any host but the gateway.
 */
const SCREENSHOTS = path.join(ROOT, 'test/screenshots');
const SIZES = { desktop: { width: 1280, height: 860 }, phone: { width: 390, height: 844 } } as const;

let gateway: RunningGateway;
let fake: FakeXai;
let browser: Browser;
/** Every URL any page asked for. */
const asked: string[] = [];


/** Run once, by `npm test`, for the reason it gives. */
const skip = TEST_STORE === 'postgres' && "the console's pages are the same over either database; the SQLite run tries them";

before(async () => {
  if (skip) return;
  fake = await startFakeXai();
  // One upstream channel, for grok-video-1.5 only: grok-imagine stays on the preview renderer.
  const channels = [{ name: 'xai', type: 'xai', base_url: fake.url, keys: ['xai-test-key'], models: ['grok-video-1.5'] }];
  gateway = await startGateway({ CHANNELS: JSON.stringify(channels), ALLOWED_PRIVATE_HOSTS: fake.hostPort });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // This machine's network is closed: Chromium's own background traffic would only fail.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await gateway?.stop();
  if (gateway) removeDataDir(gateway.dataDir);
  await fake?.close();
});

async function open(size: keyof typeof SIZES = 'desktop'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: SIZES[size] });
  const page = await context.newPage();
  page.on('request', (request) => asked.push(request.url()));
  return { context, page };
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${gateway.url}/`);
  await page.fill('input[name=key]', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('header nav');
}

/** Both widths of the page at `route`, as the signed-in `key` sees it. */
async function photograph(key: string, route: string, name: string, ready: string): Promise<void> {
  for (const size of Object.keys(SIZES) as (keyof typeof SIZES)[]) {
    const { context, page } = await open(size);
    await signIn(page, key);
    await page.goto(`${gateway.url}${route}`);
    await page.waitForSelector(ready);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${size}.png`), fullPage: true });
    await context.close();
  }
}

test('operator makes a key; the user makes a video, watches it render and play, finds it in Tasks; a revoked key is refused', { skip }, async () => {
  // The operator signs in with the admin key and makes a metered key for a colleague.
  const { context: operatorContext, page: operator } = await open();
  await signIn(operator, ADMIN_KEY);
  await operator.goto(`${gateway.url}/console/keys`);
  await operator.fill('input[name=name]', 'colleague');
  await operator.fill('input[name=balance]', '5');
  await operator.click('form.card button[type=submit]');
  const key = (await operator.textContent('[data-testid=new-key]'))!.trim();
  assert.match(key, /^sk-[A-Za-z0-9_-]{20,}$/);
  await operator.waitForSelector('tr:has-text("colleague"):has-text("$5.00")');

  // The user signs in with it and makes a video in the playground.
  const { context: userContext, page: user } = await open();
  await signIn(user, key);
  await user.waitForSelector('select[name=model]');
  await user.selectOption('select[name=model]', 'grok-imagine');
  await user.fill('textarea[name=prompt]', 'a red kite over the sea');
  // 10 s at 720p: a render long enough (2 s on a quiet machine) for progress to be seen rising.
  await user.fill('input[name=duration]', '10');
  await user.selectOption('select[name=resolution]', '720p');
  // The price comes from the gateway's own quote: 10 s at 720p, $0.07 a second.
  await user.waitForSelector('[data-testid=price]:has-text("$0.70")');
  await user.click('form.card button[type=submit]');

  // Progress rises while it renders, then the video plays in the page.
  const seen = new Set<number>();
  await user.waitForSelector('[data-testid=progress]');
  while ((await user.$('.result[data-status=completed]')) === null) {
    const value = await user.$eval('[data-testid=progress]', (bar) => (bar as HTMLProgressElement).value).catch(() => null);
    if (value !== null) seen.add(value);
    await user.waitForTimeout(50);
  }
  const values = [...seen].sort((a, b) => a - b);
  assert.ok(values.length >= 2 && values.at(-1)! > values[0]!, `progress should rise: ${values.join(', ')}`);
  await user.waitForFunction(() => {
    const video = document.querySelector('.result video') as HTMLVideoElement | null;
    return video !== null && video.currentTime > 0.3;
  });
  const size = await user.$eval('.result video', (video) => [(video as HTMLVideoElement).videoWidth, (video as HTMLVideoElement).videoHeight]);
  assert.deepEqual(size, [1280, 720]);
  await user.screenshot({ path: path.join(SCREENSHOTS, 'playground-done-desktop.png'), fullPage: true });
  const id = (await user.textContent('.result h2 a'))!.trim();

  // Extend it from there: the playground opens on the video, priced exactly (2 s at 720p + 10 s of input).
  await user.click('.result a:has-text("Extend")');
  await user.waitForSelector('fieldset.media:has-text("Your video")');
  assert.equal(await user.inputValue('select[name=capability]'), 'video_extend');
  await user.fill('textarea[name=prompt]', 'and then it rains');
  await user.fill('input[name=duration]', '2');
  await user.waitForSelector('[data-testid=price]:has-text("$0.24")');
  await user.click('form.card button[type=submit]');
  await user.waitForFunction((source) => document.querySelector('.result h2 a')?.textContent !== source, id);
  await user.waitForFunction(() => ((document.querySelector('.result[data-status=completed] video') as HTMLVideoElement | null)?.duration ?? 0) > 11.9, undefined, { timeout: 60_000 });

  // The task is in Tasks, newest first, with its thumbnail loaded.
  await user.click('header nav >> text=Tasks');
  const thumbnail = await user.waitForSelector(`li[data-id="${id}"] img.thumb`);
  await user.waitForFunction((image) => (image as HTMLImageElement).complete && (image as HTMLImageElement).naturalWidth > 0, thumbnail);
  // Filtered by the gateway: no failed task; both completed ones, newest first.
  await user.selectOption('select[name=status]', 'failed');
  await user.waitForSelector('p.note:has-text("No tasks match")');
  await user.selectOption('select[name=status]', 'completed');
  await user.waitForSelector(`li[data-id="${id}"]`);
  assert.equal(await user.locator('ul.tasks li').count(), 2);
  await user.click(`li[data-id="${id}"] a`);
  await user.waitForSelector('.detail dl');
  assert.match((await user.textContent('.detail'))!, /a red kite over the sea/);
  assert.match((await user.textContent('.detail'))!, /billed \$0\.70/);

  // The operator tops the key up: $5 less $0.70 and $0.24, plus $2.50.
  await operator.reload();
  await operator.fill('tr:has-text("colleague") input[name=amount]', '2.50');
  await operator.click('tr:has-text("colleague") button:has-text("Top up")');
  await operator.waitForSelector('tr:has-text("colleague"):has-text("$6.56")');

  // The operator revokes the key; the user's next request is refused with the gateway's message.
  operator.on('dialog', (dialog) => void dialog.accept());
  await operator.click('tr:has-text("colleague") button.danger');
  await operator.waitForSelector('tr.revoked:has-text("colleague")');
  await user.click('header nav >> text=Tasks');
  const refusal = await user.waitForSelector('p.error');
  assert.match((await refusal.textContent())!, /key/i);

  await operatorContext.close();
  await userContext.close();
});

test('every page at desktop and phone width, photographed; no request leaves the gateway', { skip }, async () => {
  const created = await fetch(`${gateway.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'photographer', balance: 2_000_000 }),
  });
  const { key } = (await created.json()) as { key: string };
  const made = await fetch(`${gateway.url}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    // Its end is announced to a URL that answers 404: the task page shows the delivery and its failures.
    body: JSON.stringify({ model: 'grok-imagine', prompt: 'a lighthouse at dusk', duration: 1, size: '480p', callback_url: `${fake.url}/no-such-hook` }),
  });
  const { id } = (await made.json()) as { id: string };

  const { context, page } = await open('phone');
  await page.goto(`${gateway.url}/console/`);
  await page.waitForSelector('input[name=key]');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'sign-in-phone.png') });
  await context.close();

  await photograph(key, '/console/playground', 'playground', 'select[name=model]');
  await photograph(key, '/console/tasks', 'tasks', 'ul.tasks li');
  const attempted = async () => {
    const answer = await fetch(`${gateway.url}/v1/videos/${id}/deliveries`, { headers: { authorization: `Bearer ${key}` } });
    return answer.status === 200 && ((await answer.json()) as { data: { attempts: number }[] }).data[0]?.attempts;
  };
  while (!(await attempted())) await new Promise((resolve) => setTimeout(resolve, 100));
  await photograph(key, `/console/tasks/${id}`, 'task', 'ul.deliveries li:has-text("callback_url"):has-text("HTTP 404")');
  await photograph(key, '/console/usage', 'usage', 'canvas');
  await photograph(ADMIN_KEY, '/console/keys', 'keys', 'table.keys tbody tr');
  await photograph(ADMIN_KEY, '/console/usage', 'usage-operator', 'canvas');
  await photograph(ADMIN_KEY, '/console/channels', 'channels', '[data-channel=xai]');

  const origin = new URL(gateway.url).origin;
  const elsewhere = asked.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:'));
  assert.deepEqual(elsewhere, [], 'the console asks nothing of any other host');
});
