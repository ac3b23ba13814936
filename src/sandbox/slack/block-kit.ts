/**
 * Block Kit validation for the emulator: the subset of block and element types a chat-ops bot
 * sends, checked against Slack's documented limits. Problems come back in Slack's own wording,
 * "must be less than 3001 characters [json-pointer:/blocks/0/text/text]", which Slack returns in
 * `errors` and, prefixed with "[ERROR] ", in `response_metadata.messages` of an `invalid_blocks` error.
 */
import type { SlackLimits } from "./limits";

type Json = Record<string, unknown>;

const BLOCK_TYPES = new Set([
  "section",
  "header",
  "divider",
  "context",
  "actions",
  "image",
  "rich_text",
  "markdown",
  "input",
  "file",
  "video",
]);
const TEXT_TYPES = new Set(["plain_text", "mrkdwn"]);
const BUTTON_STYLES = new Set(["primary", "danger"]);

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

class Problems {
  readonly list: string[] = [];
  add(message: string, pointer: string): void {
    this.list.push(`${message} [json-pointer:${pointer}]`);
  }
}

function checkLength(p: Problems, value: unknown, max: number, pointer: string, required = true): void {
  if (value === undefined && !required) return;
  if (typeof value !== "string") {
    p.add("must provide a string", pointer);
    return;
  }
  if (value.length === 0) p.add("must be more than 0 characters", pointer);
  // Slack words its limit as "less than max+1".
  else if (value.length > max) p.add(`must be less than ${max + 1} characters`, pointer);
}

function checkTextObject(p: Problems, value: unknown, max: number, pointer: string, onlyPlain = false): void {
  if (!isObject(value)) {
    p.add("must provide an object", pointer);
    return;
  }
  if (typeof value.type !== "string" || !TEXT_TYPES.has(value.type)) {
    p.add("must be a valid enum value", `${pointer}/type`);
  } else if (onlyPlain && value.type !== "plain_text") {
    p.add("must be a valid enum value", `${pointer}/type`);
  }
  checkLength(p, value.text, max, `${pointer}/text`);
}

function checkConfirm(p: Problems, value: unknown, limits: SlackLimits, pointer: string): void {
  if (!isObject(value)) {
    p.add("must provide an object", pointer);
    return;
  }
  checkTextObject(p, value.title, limits.confirmTitleMaxChars, `${pointer}/title`, true);
  checkTextObject(p, value.text, limits.confirmTextMaxChars, `${pointer}/text`);
  checkTextObject(p, value.confirm, limits.confirmButtonMaxChars, `${pointer}/confirm`, true);
  checkTextObject(p, value.deny, limits.confirmButtonMaxChars, `${pointer}/deny`, true);
  if (value.style !== undefined && !BUTTON_STYLES.has(String(value.style))) {
    p.add("must be a valid enum value", `${pointer}/style`);
  }
}

function checkElement(
  p: Problems,
  el: unknown,
  limits: SlackLimits,
  pointer: string,
  actionIds: Set<string>,
): void {
  if (!isObject(el)) {
    p.add("must provide an object", pointer);
    return;
  }
  if (el.action_id !== undefined) {
    checkLength(p, el.action_id, limits.actionIdMaxChars, `${pointer}/action_id`);
    if (typeof el.action_id === "string") {
      if (actionIds.has(el.action_id)) p.add("duplicate action_id", `${pointer}/action_id`);
      actionIds.add(el.action_id);
    }
  }
  if (el.type === "button") {
    checkTextObject(p, el.text, limits.buttonTextMaxChars, `${pointer}/text`, true);
    checkLength(p, el.value, limits.buttonValueMaxChars, `${pointer}/value`, false);
    checkLength(p, el.url, limits.urlMaxChars, `${pointer}/url`, false);
    if (el.style !== undefined && !BUTTON_STYLES.has(String(el.style))) {
      p.add("must be a valid enum value", `${pointer}/style`);
    }
    if (el.confirm !== undefined) checkConfirm(p, el.confirm, limits, `${pointer}/confirm`);
  } else if (el.type === "image") {
    checkLength(p, el.image_url, limits.urlMaxChars, `${pointer}/image_url`);
    checkLength(p, el.alt_text, limits.altTextMaxChars, `${pointer}/alt_text`);
  } else if (typeof el.type !== "string") {
    p.add("must provide a string", `${pointer}/type`);
  }
}

function checkBlock(
  p: Problems,
  block: unknown,
  limits: SlackLimits,
  pointer: string,
  blockIds: Set<string>,
  actionIds: Set<string>,
): void {
  if (!isObject(block)) {
    p.add("must provide an object", pointer);
    return;
  }
  if (typeof block.type !== "string" || !BLOCK_TYPES.has(block.type)) {
    p.add("must be a valid enum value", `${pointer}/type`);
    return;
  }
  if (block.block_id !== undefined) {
    checkLength(p, block.block_id, limits.blockIdMaxChars, `${pointer}/block_id`);
    if (typeof block.block_id === "string") {
      if (blockIds.has(block.block_id)) p.add("duplicate block_id", `${pointer}/block_id`);
      blockIds.add(block.block_id);
    }
  }
  switch (block.type) {
    case "section": {
      if (block.text === undefined && block.fields === undefined) {
        p.add("must provide either text or fields", pointer);
      }
      if (block.text !== undefined) {
        checkTextObject(p, block.text, limits.sectionTextMaxChars, `${pointer}/text`);
      }
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields)) p.add("must provide an array", `${pointer}/fields`);
        else {
          if (block.fields.length > limits.sectionFieldsMax) {
            p.add(`no more than ${limits.sectionFieldsMax} items allowed`, `${pointer}/fields`);
          }
          block.fields.forEach((f, i) => {
            checkTextObject(p, f, limits.sectionFieldMaxChars, `${pointer}/fields/${i}`);
          });
        }
      }
      if (block.accessory !== undefined) {
        checkElement(p, block.accessory, limits, `${pointer}/accessory`, actionIds);
      }
      break;
    }
    case "header":
      checkTextObject(p, block.text, limits.headerTextMaxChars, `${pointer}/text`, true);
      break;
    case "context":
    case "actions": {
      const max = block.type === "context" ? limits.contextElementsMax : limits.actionsElementsMax;
      if (!Array.isArray(block.elements)) {
        p.add("must provide an array", `${pointer}/elements`);
        break;
      }
      if (block.elements.length === 0) p.add("must provide at least 1 items", `${pointer}/elements`);
      if (block.elements.length > max) p.add(`no more than ${max} items allowed`, `${pointer}/elements`);
      block.elements.forEach((el, i) => {
        const at = `${pointer}/elements/${i}`;
        if (block.type === "context" && isObject(el) && TEXT_TYPES.has(String(el.type))) {
          checkTextObject(p, el, limits.sectionTextMaxChars, at);
        } else checkElement(p, el, limits, at, actionIds);
      });
      break;
    }
    case "image":
      checkLength(p, block.image_url, limits.urlMaxChars, `${pointer}/image_url`);
      checkLength(p, block.alt_text, limits.altTextMaxChars, `${pointer}/alt_text`);
      break;
    default:
      break;
  }
}

/** Validates a message's `blocks`; returns Slack-worded problems (empty when valid). */
export function validateBlocks(blocks: unknown, limits: SlackLimits): string[] {
  const p = new Problems();
  if (!Array.isArray(blocks)) {
    p.add("must provide an array", "/blocks");
    return p.list;
  }
  if (blocks.length > limits.blocksPerMessage) {
    p.add(`no more than ${limits.blocksPerMessage} items allowed`, "/blocks");
  }
  const blockIds = new Set<string>();
  const actionIds = new Set<string>();
  blocks.forEach((block, i) => {
    checkBlock(p, block, limits, `/blocks/${i}`, blockIds, actionIds);
  });
  return p.list;
}

/** One button found in a message's blocks. */
export interface FoundButton {
  blockId: string;
  actionId: string;
  label: string;
  value?: string;
  style?: string;
  url?: string;
  confirm?: unknown;
  element: Json;
}

/**
 * Lists the buttons of a message, in order, with the block_id Slack would report: the block's own
 * or, as Slack does when none was given, a generated one (stable for the same message content).
 */
export function buttonsIn(blocks: unknown[] | undefined): FoundButton[] {
  const found: FoundButton[] = [];
  (blocks ?? []).forEach((block, bi) => {
    if (!isObject(block)) return;
    const blockId = typeof block.block_id === "string" ? block.block_id : `emu-block-${bi}`;
    const candidates: unknown[] = [];
    if (block.type === "actions" && Array.isArray(block.elements)) candidates.push(...block.elements);
    if (block.type === "section" && block.accessory !== undefined) candidates.push(block.accessory);
    candidates.forEach((el, ei) => {
      if (!isObject(el) || el.type !== "button") return;
      const text = isObject(el.text) ? String(el.text.text ?? "") : "";
      found.push({
        blockId,
        actionId: typeof el.action_id === "string" ? el.action_id : `emu-action-${bi}-${ei}`,
        label: text,
        value: typeof el.value === "string" ? el.value : undefined,
        style: typeof el.style === "string" ? el.style : undefined,
        url: typeof el.url === "string" ? el.url : undefined,
        confirm: el.confirm,
        element: el,
      });
    });
  });
  return found;
}
