// The brownout dashboard: sign-in, hash routing, views.
import {session, storeToken, request, get, ApiError, isAbort} from './api.js';
import {h, clear, message} from './dom.js';
import * as overview from './views/overview.js';
import * as models from './views/models.js';
import * as datasets from './views/datasets.js';
import * as jobs from './views/jobs.js';
import * as job from './views/job.js';
import * as compare from './views/compare.js';
import * as submit from './views/submit.js';
import * as workers from './views/workers.js';

const $ = (sel) => document.querySelector(sel);

/* [pattern, data-view, module, title] */
const ROUTES = [
	[/^\/?$/, 'overview', overview, 'Overview'],
	[/^\/overview$/, 'overview', overview, 'Overview'],
	[/^\/models$/, 'models', models, 'Models'],
	[/^\/models\/(\d+)$/, 'model', models, 'Model'],
	[/^\/datasets$/, 'datasets', datasets, 'Datasets'],
	[/^\/jobs$/, 'jobs', jobs, 'Jobs'],
	[/^\/jobs\/(\d+)$/, 'job', job, 'Job'],
	[/^\/compare$/, 'compare', compare, 'Compare'],
	[/^\/submit$/, 'submit', submit, 'Submit a sweep'],
	[/^\/workers$/, 'workers', workers, 'Workers'],
];

let current = null; // {controller, cleanups}

/* ---- the token ---- */

/* "#token=TOKEN" (optionally "&next=/jobs/3"): store it once, strip it. */
function takeTokenFromFragment() {
	const frag = location.hash.replace(/^#/, '');
	if (!frag.startsWith('token=')) return false;
	const params = new URLSearchParams(frag);
	const token = (params.get('token') || '').trim();
	const next = params.get('next') || '/overview';
	if (token) storeToken(token);
	history.replaceState(null, '', `${location.pathname}${location.search}#${next.startsWith('/') ? next : `/${next}`}`);
	return Boolean(token);
}

function showSignInError(text) {
	const el = $('#sign-in-error');
	el.textContent = text || '';
	el.hidden = !text;
}

function renderAuth() {
	const signedIn = Boolean(session.token && session.user);
	$('#sign-in-form').hidden = signedIn;
	$('#signed-in').hidden = !signedIn;
	$('#whoami').textContent = signedIn ? session.user.name : '';
	$('#whoami-admin').hidden = !(signedIn && session.user.admin);
	document.body.classList.toggle('is-signed-in', signedIn);
	document.body.classList.toggle('is-read-only', !signedIn);
	if (signedIn) {
		setBanner(null);
	} else if (session.publicRead) {
		setBanner('info', 'Read-only: you are browsing without a token. Sign in to submit sweeps, upload, cancel or delete.');
	} else if (!session.token) {
		setBanner('info', 'This brownoutd needs a token: paste yours into "API token" above and sign in.');
	}
}

export function setBanner(kind, text) {
	const b = $('#banner');
	if (!kind) {
		b.hidden = true;
		b.textContent = '';
		b.className = 'banner';
		return;
	}
	b.className = `banner banner-${kind}`;
	b.textContent = text;
	b.hidden = false;
}

/* Establish who we are: the stored token through /me, else whether GETs work
 * without a token (--public-read). */
async function establish() {
	session.user = null;
	if (session.token) {
		try {
			session.user = await get('me', {token: session.token});
			showSignInError(null);
		} catch (e) {
			if (e instanceof ApiError && e.status === 401) {
				storeToken(null);
				showSignInError(`The saved token was refused: ${e.message}. Sign in again.`);
			} else {
				renderAuth();
				setBanner('error', e.describe ? e.describe() : String(e));
				return;
			}
		}
	}
	if (!session.user) {
		/* health says whether GETs need a token, without a 401 in the console */
		try {
			const h = await request('health', {token: null});
			session.publicRead = !!(h && h.data && h.data.public_read);
		} catch (e) {
			session.publicRead = false;
			renderAuth();
			setBanner('error', e.describe ? e.describe() : String(e));
			return;
		}
	}
	renderAuth();
}

async function signIn(ev) {
	ev.preventDefault();
	const input = $('#token-input');
	const button = $('#sign-in');
	const token = input.value.trim();
	if (!token) {
		showSignInError('Paste a token first (brownoutd user add NAME prints one).');
		input.focus();
		return;
	}
	button.disabled = true;
	showSignInError(null);
	try {
		const user = await get('me', {token});
		storeToken(token);
		session.user = user;
		input.value = '';
		renderAuth();
		route();
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) {
			showSignInError(`Wrong token: the server refused it (${e.message}).`);
		} else {
			showSignInError(`Could not check the token: ${e.describe ? e.describe() : e}`);
		}
		input.focus();
		input.select();
	} finally {
		button.disabled = false;
	}
}

async function signOut() {
	storeToken(null);
	session.user = null;
	showSignInError(null);
	await establish();
	route();
	$('#token-input').focus();
}

/* A stored token stopped working (revoked): sign out, say so. */
session.onUnauthorized = (err) => {
	if (!session.token) return;
	storeToken(null);
	session.user = null;
	showSignInError(`Your token was refused (${err.message}); sign in again.`);
	establish().then(() => route());
};

/* ---- routing ---- */

export function parseHash(hash = location.hash) {
	const raw = hash.replace(/^#/, '') || '/overview';
	const q = raw.indexOf('?');
	const path = q < 0 ? raw : raw.slice(0, q);
	const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
	return {path, query};
}

export function navigate(hash) {
	if (location.hash === hash) route();
	else location.hash = hash;
}

function highlightNav(view) {
	const section = {model: 'models', job: 'jobs'}[view] || view;
	for (const a of document.querySelectorAll('nav a')) {
		if (a.getAttribute('href') === `#/${section}`) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
}

function teardown() {
	if (!current) return;
	current.controller.abort();
	for (const f of current.cleanups) {
		try {
			f();
		} catch (e) {
			/* a view's cleanup must not stop the next view */
		}
	}
	current = null;
}

let firstRoute = true;

function route() {
	if (location.hash.startsWith('#token=')) {
		takeTokenFromFragment();
		establish().then(route);
		return;
	}
	teardown();
	const main = $('#view');
	clear(main);
	window.scrollTo(0, 0);
	const {path, query} = parseHash();
	let match = null;
	for (const [re, view, mod, title] of ROUTES) {
		const m = re.exec(path);
		if (m) {
			match = {view, mod, title, params: m.slice(1)};
			break;
		}
	}
	if (!match) {
		const root = h('section', {'data-view': 'not-found'},
			h('h1', {tabindex: '-1'}, 'No such page'),
			message('error', `There is no page "${path}". `, h('a', {href: '#/overview'}, 'Go to the overview.')));
		main.appendChild(root);
		document.title = 'brownout · not found';
		highlightNav(null);
		return;
	}
	const controller = new AbortController();
	const cleanups = [];
	current = {controller, cleanups};
	const me = current;
	const root = h('section', {'data-view': match.view, class: `view view-${match.view}`});
	main.appendChild(root);
	document.title = `brownout · ${match.title}`;
	highlightNav(match.view);
	const ctx = {
		view: match.view,
		params: match.params,
		query,
		signal: controller.signal,
		alive: () => current === me,
		onCleanup: (f) => cleanups.push(f),
		navigate,
		setTitle: (t) => {
			if (current === me) document.title = `brownout · ${t}`;
		},
		/* An API error shown in the view; 401 without a token asks to sign in. */
		errorBox: (e, what) => apiErrorBox(e, what),
	};
	Promise.resolve()
		.then(() => match.mod.render(root, ctx))
		.catch((e) => {
			if (isAbort(e) || current !== me) return;
			root.appendChild(apiErrorBox(e, 'This page could not be loaded'));
			console.warn(e);
		})
		.finally(() => {
			// After following a link in the content, focus the new view's heading;
			// after the nav (or the first load) the focus stays where it is.
			const from = document.activeElement;
			const fromContent = !from || from === document.body || from.closest('main');
			if (current === me && !firstRoute && fromContent) {
				const heading = root.querySelector('h1');
				if (heading && !root.contains(document.activeElement)) {
					heading.setAttribute('tabindex', '-1');
					heading.focus({preventScroll: true});
				}
			}
			firstRoute = false;
		});
}

export function apiErrorBox(e, what = 'Something went wrong') {
	if (e instanceof ApiError && e.status === 401) {
		return message('warn', h('strong', null, 'Sign in needed. '),
			'This brownoutd answers only to a token: paste yours into "API token" at the top and press Sign in.');
	}
	if (e instanceof ApiError) {
		return message('error', h('strong', null, `${what}: `), e.describe());
	}
	return message('error', h('strong', null, `${what}: `), String(e && e.message ? e.message : e));
}

async function showVersion() {
	try {
		const health = await get('/api/v1/health');
		$('#server-version').textContent = `brownoutd ${health.version} · schema ${health.schema_version}`;
	} catch {
		/* the banner reports connectivity */
	}
}

async function boot() {
	$('#sign-in-form').addEventListener('submit', signIn);
	$('#sign-out').addEventListener('click', signOut);
	takeTokenFromFragment();
	await establish();
	window.addEventListener('hashchange', route);
	route();
	showVersion();
}

boot();
