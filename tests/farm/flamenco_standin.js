// A stand-in for the job compiler runtime of Flamenco Manager 3.8, for testing job types under Node.
//
// Flamenco runs job-type scripts in goja (a JavaScript VM in Go) with these globals: `author`
// (Task, Command), `path` (basename, dirname, join, stem), `frameChunker`, `frameCount`, `print`,
// `alert`, `formatTimestampLocal`, `shellSplit`, `process`. Go struct fields and methods reach the script
// with a lower-case first letter (AuthoredTask.AddCommand is task.addCommand). This file models what the
// Flamenco 3.8 sources and documentation say about them (docs/farm.md lists what is not modelled):
//
// - author.Task(name, type): both required (trimmed, an error when empty); priority 50, a fresh uuid.
// - author.Command(name, parameters, totalStepCount): the step count is optional (0: no steps).
// - task.addCommand(cmd), task.addDependency(otherTask): append; a dependency refers to the task itself.
// - job.addTask(task) appends a *copy* of the task (Go appends the struct by value), so changes made to
//   the task after it was added are not seen by the job.
// - frameChunker("1-10,20..25", n): frames sorted and de-duplicated, in chunks of n, each chunk written
//   back as ranges "a-b", a two-frame run as "a,b", a single frame as "a"; frameCount(range) counts frames.

"use strict";

const fs = require("node:fs");
const vm = require("node:vm");
const crypto = require("node:crypto");

class AuthoredCommand {
    constructor(name, parameters, totalStepCount) {
        this.name = name;
        this.parameters = parameters;
        this.totalStepCount = totalStepCount || 0;
    }
}

class AuthoredTask {
    constructor(name, type) {
        this.uuid = crypto.randomUUID();
        this.name = name;
        this.type = type;
        this.priority = 50;
        this.commands = [];
        this.dependencies = [];
    }

    addCommand(command) {
        if (!(command instanceof AuthoredCommand)) {
            throw new TypeError("task.addCommand() takes the result of author.Command()");
        }
        this.commands.push(command);
    }

    addDependency(task) {
        if (!(task instanceof AuthoredTask)) {
            throw new TypeError("task.addDependency() takes the result of author.Task()");
        }
        this.dependencies.push(task);
    }
}

const author = {
    Task(name, type) {
        name = String(name ?? "").trim();
        type = String(type ?? "").trim();
        if (!name) throw new Error("author.Task(name, type): name is required");
        if (!type) throw new Error("author.Task(name, type): type is required");
        return new AuthoredTask(name, type);
    },
    Command(name, parameters, totalStepCount) {
        return new AuthoredCommand(name, parameters, totalStepCount);
    },
};

function explodeFrames(frameRange) {
    const text = String(frameRange).trim().replaceAll("..", "-");
    if (!text) throw new Error(`invalid range "${frameRange}": empty range`);
    const frames = new Set();
    for (const part of text.split(",")) {
        const bounds = part.split("-").map((s) => s.trim());
        const numbers = bounds.map((s) => (/^[+-]?\d+$/.test(s) ? parseInt(s, 10) : NaN));
        if (bounds.length > 2 || numbers.some(Number.isNaN)) {
            throw new Error(`invalid range "${frameRange}": ${part}`);
        }
        const [first, last] = numbers.length == 1 ? [numbers[0], numbers[0]] : numbers;
        for (let f = first; f <= last; f++) frames.add(f);
    }
    return [...frames].sort((a, b) => a - b);
}

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

function frameChunker(frameRange, chunkSize) {
    if (!(chunkSize >= 1)) throw new Error(`invalid chunk size, must be positive number: ${chunkSize}`);
    const frames = explodeFrames(frameRange);
    if (!frames.length) throw new Error(`invalid range "${frameRange}": empty range`);
    const chunks = [];
    for (let i = 0; i < frames.length; i += chunkSize) chunks.push(mergeFrames(frames.slice(i, i + chunkSize)));
    return chunks;
}

function frameCount(frameRange) {
    return explodeFrames(frameRange).length;
}

// Flamenco's crosspath: forward slashes, cleaned like Go's path.Join.
const path = {
    join(...parts) {
        const joined = parts.filter((p) => p !== "").join("/").replaceAll("\\", "/");
        const absolute = joined.startsWith("/");
        const out = [];
        for (const seg of joined.split("/")) {
            if (seg === "" || seg === ".") continue;
            if (seg === ".." && out.length && out[out.length - 1] !== "..") out.pop();
            else if (seg !== ".." || !absolute) out.push(seg);
        }
        return (absolute ? "/" : "") + out.join("/") || (absolute ? "/" : ".");
    },
    dirname(p) {
        const clean = path.join(p);
        const cut = clean.lastIndexOf("/");
        return cut < 0 ? "." : cut == 0 ? "/" : clean.slice(0, cut);
    },
    basename(p) {
        const clean = String(p).replaceAll("\\", "/").replace(/\/+$/, "");
        return clean.slice(clean.lastIndexOf("/") + 1) || "/";
    },
    stem(p) {
        const base = path.basename(p);
        const dot = base.lastIndexOf(".");
        return dot > 0 ? base.slice(0, dot) : base;
    },
};

function formatTimestampLocal(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}_` +
        `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

class AuthoredJob {
    constructor(settings, { name = "test job", created = new Date(2026, 0, 2, 3, 4, 5), type = "" } = {}) {
        this.jobID = crypto.randomUUID();
        this.name = name;
        this.jobType = type;
        this.priority = 50;
        this.status = "under-construction";
        this.created = created;
        this.settings = { ...settings };
        this.metadata = {};
        this.tasks = [];
    }

    addTask(task) {
        const copy = Object.assign(Object.create(AuthoredTask.prototype), task);
        copy.commands = [...task.commands];
        copy.dependencies = [...task.dependencies];
        this.tasks.push(copy);
    }
}

// Load a job-type script the way the Manager does: one script per VM, with the globals above.
function loadJobType(file) {
    const printed = [];
    const context = vm.createContext({
        author,
        path,
        frameChunker,
        frameCount,
        formatTimestampLocal,
        print: (...args) => printed.push(args.map(String).join(" ")),
        alert: (...args) => printed.push(args.map(String).join(" ")),
        shellSplit: (text) => text.split(/\s+/).filter(Boolean),
        process: { platform: "linux" },
    });
    vm.runInContext(fs.readFileSync(file, "utf8"), context, { filename: file });
    const JOB_TYPE = vm.runInContext("JOB_TYPE", context);
    const compileJob = vm.runInContext("compileJob", context);
    return { JOB_TYPE, compileJob, printed };
}

// The settings a submission from the Flamenco add-on carries: every setting's default, then `settings`.
function submittedSettings(jobType, settings) {
    const values = {};
    for (const s of jobType.settings) {
        if (s.default !== undefined) values[s.key] = s.default;
    }
    return { ...values, ...settings };
}

function compile(file, settings, jobOptions) {
    const { JOB_TYPE, compileJob } = loadJobType(file);
    const job = new AuthoredJob(submittedSettings(JOB_TYPE, settings), jobOptions);
    compileJob(job);
    return job;
}

module.exports = {
    AuthoredCommand, AuthoredJob, AuthoredTask, author, compile, formatTimestampLocal, frameChunker, frameCount,
    loadJobType, path, submittedSettings,
};

// `node flamenco_standin.js JOB_TYPE.js '{"frames": "1-3", ...}'`: the compiled tasks as JSON.
if (require.main === module) {
    const job = compile(process.argv[2], JSON.parse(process.argv[3]));
    const tasks = job.tasks.map((t) => ({
        name: t.name, type: t.type, commands: t.commands, dependencies: t.dependencies.map((d) => d.name),
    }));
    process.stdout.write(JSON.stringify({ settings: job.settings, tasks }, null, 1) + "\n");
}
