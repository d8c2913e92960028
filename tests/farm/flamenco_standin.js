// A stand-in for the job compiler runtime of Flamenco Manager 3.9, for testing job types under Node.
//
// Modelled on the Flamenco sources at "Bumped version to 3.9-beta1" (April 2026):
// internal/manager/job_compilers/{scripts.go, author.go, js_globals.go, js_path.go, js_process.go,
// job_compilers.go}, pkg/crosspath/crosspath.go, and on the versions they pin: goja 81d76064690d (the
// JavaScript VM, its Go <-> JS conversion) and google/shlex e7afc7fbc510 (shellSplit). docs/farm.md lists
// what was read and what is not modelled. What the real runtime does, and this file copies:
//
// - Scripts run in strict mode (goja.Compile(..., strict=true)) in a VM that has goja's globals only: no
//   `console`, `Intl`, `WebAssembly`, `SharedArrayBuffer`, `BigInt`, ... Flamenco adds `print`, `alert`,
//   `frameChunker`, `frameCount`, `formatTimestampLocal`, `shellSplit`, `author`, `path`, `process` and
//   goja_nodejs's `require`.
// - Go struct fields and methods reach the script with the first letter lower-cased (goja's
//   UncapFieldNameMapper): AuthoredTask.UUID is `task.uUID`, AuthoredJob.JobID is `job.jobID`,
//   AddCommand is `task.addCommand`. A struct gets no new properties (an error in strict mode).
// - Go function parameters are converted from JS values the goja way: to a string with ToString
//   (undefined and null give ""), to an int with ToNumber truncated (NaN gives 0), to a map only from an
//   object (a string or number is a TypeError), to a struct pointer from a struct or any object.
// - job.settings holds what was submitted and nothing else: the Manager copies SubmittedJob.Settings,
//   it does not fill in the defaults of JOB_TYPE.settings.
// - job.created is a Go time.Time (goja does not turn it into a JS Date): Go's methods (`unix()`,
//   `year()`, ...), no Date methods.
// - job.addTask(task) appends a *copy* of the task (Go appends the struct by value), so changes made to
//   the task after it was added are not seen by the job; author.Command copies its parameters.
// - Storing the job (persistence/jobs.go) fails when a task depends on a task that is not in the job.

"use strict";

const fs = require("node:fs");
const vm = require("node:vm");
const crypto = require("node:crypto");

// The global names of a goja VM (goja 81d76064690d: runtime.go init(), builtin_*.go addToGlobal and
// builtin_global.go). The ones Flamenco's newGojaVM() adds are FLAMENCO_GLOBALS.
const GOJA_GLOBALS = new Set([
    "AggregateError", "Array", "ArrayBuffer", "Boolean", "DataView", "Date", "Error", "EvalError",
    "Float32Array", "Float64Array", "Function", "GoError", "Int16Array", "Int32Array", "Int8Array", "JSON",
    "Map", "Math", "Number", "Object", "Promise", "Proxy", "RangeError", "ReferenceError", "Reflect", "RegExp",
    "Set", "String", "Symbol", "SyntaxError", "TypeError", "URIError", "Uint16Array", "Uint32Array",
    "Uint8Array", "Uint8ClampedArray", "WeakMap", "WeakSet", "eval",
    "globalThis", "NaN", "undefined", "Infinity", "isNaN", "parseInt", "parseFloat", "isFinite", "decodeURI",
    "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape",
]);
const FLAMENCO_GLOBALS = [
    "print", "alert", "frameChunker", "frameCount", "formatTimestampLocal", "shellSplit", "author", "path",
    "process", "require",
];

// ---- Go values -------------------------------------------------------------------------------------

// Go's time.Time as a script sees it: a struct with Go's methods, in the Manager's local time zone.
class GoTime {
    #ms;
    constructor(ms) {
        this.#ms = ms;
        Object.freeze(this);
    }
    static fromDate(date) {
        return new GoTime(date.getTime());
    }
    static msOf(time) { // for formatTimestampLocal, which gets the Go value itself
        return time.#ms;
    }
    unix() { return Math.floor(this.#ms / 1000); }
    unixMilli() { return this.#ms; }
    year() { return new Date(this.#ms).getFullYear(); }
    month() { return new Date(this.#ms).getMonth() + 1; } // a time.Month: January is 1
    day() { return new Date(this.#ms).getDate(); }
    hour() { return new Date(this.#ms).getHours(); }
    minute() { return new Date(this.#ms).getMinutes(); }
    second() { return new Date(this.#ms).getSeconds(); }
    // time.Time is a fmt.Stringer, so goja's toString is Go's String(). The real one ends with the zone
    // abbreviation (and a monotonic clock reading), which are left out here.
    toString() {
        const d = new Date(this.#ms);
        const offset = -d.getTimezoneOffset();
        const sign = offset < 0 ? "-" : "+";
        const abs = Math.abs(offset);
        return `${localStamp(d, "-", " ", ":")} ${sign}${pad(Math.floor(abs / 60), 2)}${pad(abs % 60, 2)}`;
    }
}

// Go's zero time.Time, 0001-01-01T00:00:00Z in milliseconds since 1970: what goja passes for undefined,
// null or an object that is no time (time.Time has no exported fields to fill from it).
const GO_ZERO_TIME_MS = -62135596800000;

function pad(n, width) {
    return String(n).padStart(width, "0");
}

function localStamp(d, dateSep, middle, timeSep) {
    return `${pad(d.getFullYear(), 4)}${dateSep}${pad(d.getMonth() + 1, 2)}${dateSep}${pad(d.getDate(), 2)}` +
        `${middle}${pad(d.getHours(), 2)}${timeSep}${pad(d.getMinutes(), 2)}${timeSep}${pad(d.getSeconds(), 2)}`;
}

// A Go error value that Flamenco throws itself (shellSplit panics with vm.ToValue(err)): not a JS Error.
class GoErrorValue {
    constructor(message) {
        this.message = message;
    }
    toString() {
        return this.message;
    }
}

// ---- The runtime of one VM -------------------------------------------------------------------------

// The Go side (author.go): instances are sealed, as goja gives a Go struct no new properties.
class AuthoredCommand {
    constructor(name, parameters, totalStepCount) {
        this.name = name;
        this.parameters = parameters;
        this.totalStepCount = totalStepCount;
        Object.seal(this);
    }
}

class AuthoredTask {
    constructor(fields) {
        this.uUID = fields.uUID;
        this.name = fields.name;
        this.type = fields.type;
        this.priority = fields.priority;
        this.commands = fields.commands;
        this.dependencies = fields.dependencies;
        Object.seal(this);
    }
}

class AuthoredJob {
    constructor(fields) {
        this.jobID = fields.jobID;
        this.workerTagUUID = fields.workerTagUUID;
        this.name = fields.name;
        this.jobType = fields.jobType;
        this.priority = fields.priority;
        this.status = fields.status;
        this.created = fields.created;
        this.settings = fields.settings;
        this.metadata = fields.metadata;
        this.storage = fields.storage;
        this.tasks = fields.tasks;
        Object.seal(this);
    }
}

// Globals of one VM. Errors are made with that VM's constructors, as goja makes them in its own VM.
function makeRuntime(context, { platform = "linux", printed = [] } = {}) {
    const realm = vm.runInContext(
        "({ TypeError, Error, GoError: (() => { class GoError extends Error {} " +
        "Object.defineProperty(GoError.prototype, 'name', { value: 'GoError' }); return GoError; })() })",
        context,
    );

    // goja's wrapReflectFunc: a parameter it cannot convert is this TypeError.
    const conversionError = (index, value, goType) =>
        new realm.TypeError(
            `could not convert function call parameter ${index}: could not convert ${value} to ${goType}`);
    // A Go function that returns an error throws a GoError (goja's NewGoError).
    const goError = (message) => new realm.GoError(message);

    const goString = (value) => (value === undefined || value === null ? "" : String(value));
    const goInt = (value) => {
        if (value === undefined || value === null) return 0;
        const n = Number(value);
        return Number.isFinite(n) ? Math.trunc(n) : 0;
    };
    // A JS value exported into a Go map[string]any or []any: a deep copy (goja's exportToMap).
    const exportValue = (value, seen = new Map()) => {
        if (value === undefined || value === null) return null;
        if (typeof value !== "object" || value instanceof GoTime || value instanceof AuthoredTask ||
            value instanceof AuthoredCommand) {
            return value;
        }
        if (seen.has(value)) return seen.get(value);
        const copy = Array.isArray(value) ? [] : {};
        seen.set(value, copy);
        for (const key of Object.keys(value)) copy[key] = exportValue(value[key], seen);
        return copy;
    };
    const goMap = (index, value, goType) => {
        if (value === undefined || value === null) return null; // a nil map
        if (typeof value !== "object" && typeof value !== "function") throw conversionError(index, value, goType);
        const copy = exportValue(value);
        return Array.isArray(copy) ? { ...copy } : copy; // an array's own keys, "0", "1", ...
    };
    const goSlice = (value, convertItem) =>
        value === undefined || value === null ? [] : Array.from(value, convertItem);

    // A *T parameter: the struct itself, or a new struct filled from the fields of any other object.
    const goCommand = (index, value) => {
        if (value instanceof AuthoredCommand) return value;
        if (value === undefined || value === null) return null; // a nil pointer
        if (typeof value !== "object") throw conversionError(index, value, "job_compilers.AuthoredCommand");
        return new AuthoredCommand(
            goString(value.name),
            goMap(index, value.parameters, "job_compilers.AuthoredCommandParameters"),
            goInt(value.totalStepCount),
        );
    };
    const goTask = (index, value) => {
        if (value instanceof AuthoredTask) return value;
        if (value === undefined || value === null) return null;
        if (typeof value !== "object") throw conversionError(index, value, "job_compilers.AuthoredTask");
        return new Task({
            uUID: goString(value.uUID),
            name: goString(value.name),
            type: goString(value.type),
            priority: goInt(value.priority),
            commands: goSlice(value.commands, (c) => copyCommand(goCommand(index, c))),
            dependencies: goSlice(value.dependencies, (t) => goTask(index, t)),
        });
    };
    // A nil pointer: AddCommand and AddTask dereference it at once, and a nil dependency is dereferenced
    // when the Manager stores the job (persistence/jobs.go): a Go panic either way.
    const notNil = (value, what) => {
        if (value === null) throw goError(`runtime error: invalid memory address or nil pointer dereference (${what})`);
        return value;
    };
    const copyCommand = (c) => new AuthoredCommand(c.name, c.parameters, c.totalStepCount);

    // The methods of *AuthoredTask and *AuthoredJob. The instances are sealed, so a script that assigns
    // to a method name gets a TypeError, as goja's read-only method properties give.
    class Task extends AuthoredTask {
        addCommand(command) {
            this.commands.push(copyCommand(notNil(goCommand(0, command), "task.addCommand(nil)")));
        }
        addDependency(task) {
            this.dependencies.push(notNil(goTask(0, task), "task.addDependency(nil)"));
        }
    }
    class Job extends AuthoredJob {
        // aj.Tasks = append(aj.Tasks, *at): a copy of the struct, whose slices no later append reaches.
        addTask(task) {
            const t = notNil(goTask(0, task), "job.addTask(nil)");
            this.tasks.push(new Task({ ...t, commands: [...t.commands], dependencies: [...t.dependencies] }));
        }
    }

    const author = Object.freeze({
        Task(name, type) {
            name = goString(name).trim();
            type = goString(type).trim();
            if (!name) throw goError("author.Task(name, type): name is required");
            if (!type) throw goError("author.Task(name, type): type is required");
            return new Task({
                uUID: crypto.randomUUID(), name, type, priority: 50, commands: [], dependencies: [],
            });
        },
        // The step count is optional: left out, goja passes Go's zero value, 0 ("no steps").
        Command(name, parameters, totalStepCount) {
            return new AuthoredCommand(
                goString(name),
                goMap(1, parameters, "job_compilers.AuthoredCommandParameters"),
                goInt(totalStepCount),
            );
        },
    });

    const frameChunker = (frameRange, chunkSize) => {
        frameRange = goString(frameRange).trim();
        chunkSize = goInt(chunkSize);
        if (!frameRange) throw goError(`invalid range "${frameRange}": empty range`);
        if (chunkSize < 1) throw goError(`invalid chunk size, must be positive number: ${chunkSize}`);
        const frames = explodeFrames(frameRange, goError);
        if (!frames.length) throw goError(`invalid range "${frameRange}": empty range`);
        const chunks = [];
        for (let i = 0; i < frames.length; i += chunkSize) chunks.push(mergeFrames(frames.slice(i, i + chunkSize)));
        return chunks;
    };
    const frameCount = (frameRange) => explodeFrames(goString(frameRange), goError).length;

    // formatTimestampLocal(timestamp time.Time): a time.Time or a Date converts; undefined, null or any
    // other object is Go's zero time; a number or boolean cannot be converted.
    const formatTimestampLocal = (timestamp) => {
        let ms;
        if (timestamp instanceof GoTime) ms = GoTime.msOf(timestamp);
        else if (Object.prototype.toString.call(timestamp) === "[object Date]") {
            ms = timestamp.getTime(); // a JS Date of this VM or another one
        } else if (timestamp === undefined || timestamp === null || typeof timestamp === "object") {
            ms = GO_ZERO_TIME_MS;
        } else if (typeof timestamp === "string") {
            // goja parses date strings (its dateParse); that parser is not modelled here.
            throw new realm.Error("formatTimestampLocal(string) is not modelled by the stand-in");
        } else {
            throw conversionError(0, timestamp, "time.Time");
        }
        return localStamp(new Date(ms), "-", "_", "");
    };

    const shellSplit = (text) => {
        const result = shlexSplit(goString(text));
        if (result.error) throw new GoErrorValue(result.error);
        return result.words;
    };

    const modules = {
        author,
        path: Object.freeze({
            basename: (p) => crosspath.base(goString(p)),
            dirname: (p) => crosspath.dir(goString(p)),
            join: (...parts) => crosspath.join(...parts.map(goString)),
            stem: (p) => crosspath.stem(goString(p)),
        }),
        process: Object.freeze({ cwd: () => "/", platform }),
    };
    const say = (...args) => {
        printed.push(args.map(String).join(" "));
    };
    return {
        GoError: realm.GoError,
        print: say,
        alert: say,
        frameChunker,
        frameCount,
        formatTimestampLocal,
        shellSplit,
        author,
        path: modules.path,
        process: modules.process,
        // goja_nodejs's require: Flamenco registers author, path and process as native modules. Loading
        // .js files from the scripts folder is not modelled.
        require: (name) => {
            if (Object.hasOwn(modules, name)) return modules[name];
            throw new realm.Error("Invalid module");
        },
        newJob(settings, { name = "test job", created = new Date(2026, 0, 2, 3, 4, 5), type = "" } = {}) {
            return new Job({
                jobID: crypto.randomUUID(),
                workerTagUUID: "",
                name,
                jobType: type,
                priority: 50,
                status: "under-construction",
                created: created instanceof GoTime ? created : GoTime.fromDate(created),
                settings: { ...settings }, // SubmittedJob.Settings, copied: no defaults added
                metadata: {},
                storage: Object.seal({ shamanCheckoutID: "" }),
                tasks: [],
            });
        },
    };
}

// ---- Frame ranges (js_globals.go) -------------------------------------------------------------------

function explodeFrames(frameRange, goError) {
    const text = frameRange.replaceAll("..", "-");
    const frames = new Set();
    for (const part of text.split(",")) {
        const bounds = part.split("-");
        // strconv.ParseInt(strings.TrimSpace(s), 10, 64)
        const numbers = bounds.map((s) => (/^[+-]?\d+$/.test(s.trim()) ? parseInt(s.trim(), 10) : NaN));
        if (bounds.length > 2 || numbers.some(Number.isNaN)) {
            throw goError(`invalid range "${text}": ${part}`);
        }
        const [first, last] = numbers.length == 1 ? [numbers[0], numbers[0]] : numbers;
        for (let f = first; f <= last; f++) frames.add(f);
    }
    return [...frames].sort((a, b) => a - b);
}

// Consecutive frames as "a-b", a two-frame run as "a,b", a single frame as "a".
function mergeFrames(frames) {
    const parts = [];
    let start = frames[0];
    for (let i = 0; i < frames.length; i++) {
        const f = frames[i];
        if (i + 1 < frames.length && frames[i + 1] == f + 1) continue;
        if (f == start) parts.push(`${f}`);
        else if (f == start + 1) parts.push(`${start}`, `${f}`);
        else parts.push(`${start}-${f}`);
        start = frames[i + 1];
    }
    return parts.join(",");
}

// ---- Paths (pkg/crosspath over Go's "path" package) ---------------------------------------------------

// Go's path.Clean: one slash between elements, no "." elements, ".." removes the element before it
// (and is dropped at the root), "." for an empty result.
function goClean(p) {
    if (p === "") return ".";
    const rooted = p.startsWith("/");
    const out = [];
    for (const seg of p.split("/")) {
        if (seg === "" || seg === ".") continue;
        if (seg === "..") {
            if (out.length && out[out.length - 1] !== "..") out.pop();
            else if (!rooted) out.push("..");
        } else {
            out.push(seg);
        }
    }
    const joined = out.join("/");
    return rooted ? "/" + joined : joined || ".";
}

const toSlash = (p) => p.replaceAll("\\", "/");

const crosspath = {
    // path.Base(ToSlash(p)): trailing slashes dropped, then the last element; "." for "", "/" for "///".
    base(p) {
        const slashed = toSlash(p);
        if (slashed === "") return ".";
        const trimmed = slashed.replace(/\/+$/, "");
        if (trimmed === "") return "/";
        return trimmed.slice(trimmed.lastIndexOf("/") + 1);
    },
    // Not path.Dir: crosspath.Dir splits without cleaning, so "//server/share/x" keeps its "//".
    dir(p) {
        if (p === "") return ".";
        const slashed = toSlash(p);
        const dir = slashed.slice(0, slashed.lastIndexOf("/") + 1);
        if (dir === "") return ".";
        return dir.length > 1 ? dir.slice(0, -1) : dir;
    },
    // ToSlash(path.Join(...)): Go cleans first, so a backslash is no separator while cleaning.
    join(...elems) {
        if (elems.every((e) => e === "")) return "";
        return toSlash(goClean(elems.filter((e) => e !== "").join("/")));
    },
    // The base name without path.Ext (from the last dot): ".blend" has an empty stem.
    stem(p) {
        const base = crosspath.base(p);
        const dot = base.lastIndexOf(".");
        return dot < 0 ? base : base.slice(0, dot);
    },
};

// ---- shellSplit (google/shlex) ------------------------------------------------------------------------

// shlex's state machine: whitespace separates words; '...' is literal; in "..." a backslash makes the next
// character literal (any character); outside quotes too; '#' at the start of a word starts a comment up to
// the end of the line. Quotes can be empty ("" is an empty word) and join with the rest of the word.
function shlexSplit(text) {
    const words = [];
    const chars = [...text];
    let i = 0;
    const space = (c) => c === " " || c === "\t" || c === "\r" || c === "\n";
    while (i < chars.length) {
        if (space(chars[i])) {
            i++;
            continue;
        }
        if (chars[i] === "#") {
            while (i < chars.length && chars[i] !== "\n") i++;
            continue;
        }
        let word = "";
        let state = "word";
        for (; i < chars.length; i++) {
            const c = chars[i];
            if (state === "word") {
                if (space(c)) break;
                if (c === '"') state = "double";
                else if (c === "'") state = "single";
                else if (c === "\\") state = "escape";
                else word += c;
            } else if (state === "escape") {
                word += c;
                state = "word";
            } else if (state === "double") {
                if (c === '"') state = "word";
                else if (c === "\\") state = "double-escape";
                else word += c;
            } else if (state === "double-escape") {
                word += c;
                state = "double";
            } else if (state === "single") {
                if (c === "'") state = "word";
                else word += c;
            }
        }
        if (state === "escape" || state === "double-escape") {
            return { words, error: "EOF found after escape character" };
        }
        if (state === "double" || state === "single") {
            return { words, error: "EOF found when expecting closing quote" };
        }
        words.push(word);
    }
    return { words, error: null };
}

// ---- Loading a job type -------------------------------------------------------------------------------

// A fresh VM the way newGojaVM() makes one: goja's globals, then Flamenco's.
function newVM(options = {}) {
    const context = vm.createContext({});
    const names = vm.runInContext("Object.getOwnPropertyNames(globalThis)", context);
    for (const name of names) {
        if (!GOJA_GLOBALS.has(name)) vm.runInContext(`delete globalThis[${JSON.stringify(name)}]`, context);
    }
    const left = vm.runInContext("Object.getOwnPropertyNames(globalThis)", context).filter((n) => !GOJA_GLOBALS.has(n));
    if (left.length) throw new Error(`the stand-in could not remove these non-goja globals: ${left}`);
    const runtime = makeRuntime(context, options);
    context.GoError = runtime.GoError; // a goja global V8 lacks: the class of the errors Go functions return
    for (const name of FLAMENCO_GLOBALS) context[name] = runtime[name];
    return { context, runtime };
}

// Load a job-type script as the Manager does: one script per VM, compiled in strict mode. The
// "use strict" directive goes on the script's first line, so line numbers stay those of the file.
function loadJobTypeSource(source, filename = "job_type.js", options = {}) {
    const printed = [];
    const { context, runtime } = newVM({ ...options, printed });
    vm.runInContext(`"use strict"; ${source}`, context, { filename });
    const JOB_TYPE = vm.runInContext("typeof JOB_TYPE === 'undefined' ? undefined : JOB_TYPE", context);
    const compileJob = vm.runInContext("typeof compileJob === 'undefined' ? undefined : compileJob", context);
    return { JOB_TYPE, compileJob, printed, runtime, context };
}

function loadJobType(file, options = {}) {
    return loadJobTypeSource(fs.readFileSync(file, "utf8"), file, options);
}

// Compile a job: `settings` is SubmittedJob.Settings, passed as-is (no defaults filled in). Then check what
// the Manager checks when it stores the job (persistence/jobs.go): each dependency is a task of the job.
function compileLoaded(loaded, settings, jobOptions) {
    if (typeof loaded.compileJob !== "function") throw new Error("the script does not define compileJob(job)");
    const job = loaded.runtime.newJob(settings, jobOptions);
    loaded.compileJob(job);
    const stored = new Set(job.tasks.map((t) => t.uUID));
    for (const task of job.tasks) {
        for (const dep of task.dependencies) {
            if (!stored.has(dep.uUID)) {
                throw new Error(
                    `finding task with UUID "${dep.uUID}"; a task depends on a task that is not part of this job`);
            }
        }
    }
    return job;
}

function compile(file, settings, jobOptions) {
    return compileLoaded(loadJobType(file), settings, jobOptions);
}

function compileSource(source, settings, jobOptions) {
    return compileLoaded(loadJobTypeSource(source), settings, jobOptions);
}

module.exports = {
    AuthoredCommand, AuthoredJob, AuthoredTask, GoErrorValue, GoTime, compile, compileSource, crosspath,
    loadJobType, loadJobTypeSource, newVM, shlexSplit,
};

// `node flamenco_standin.js JOB_TYPE.js '{"frames": "1-3", ...}'`: the compiled tasks as JSON.
if (require.main === module) {
    const job = compile(process.argv[2], JSON.parse(process.argv[3]));
    const tasks = job.tasks.map((t) => ({
        name: t.name, type: t.type, commands: t.commands, dependencies: t.dependencies.map((d) => d.name),
    }));
    process.stdout.write(JSON.stringify({ settings: job.settings, tasks }, null, 1) + "\n");
}
