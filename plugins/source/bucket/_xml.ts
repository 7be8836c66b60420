/**
 * A small XML reader for the flat documents S3 answers with (ListObjectsV2, ListObjectVersions,
 * ListBuckets, Error). The input is untrusted: its size is bounded by the caller, the depth and the
 * number of elements here; no DTD is accepted (so no entity of its own), the predefined and numeric
 * entities are decoded, and the tree is built with a stack (no recursion on the document's depth).
 * Attributes and namespaces are ignored: S3's documents carry their data in elements.
 *
 * @example
 * ```ts
 * import { child, parseXml, text } from "./_xml.ts";
 * const doc = parseXml("<Error><Code>NoSuchKey</Code></Error>");
 * text(child(doc, "Code")); // "NoSuchKey"
 * ```
 * @module
 */

/** An element: its local name, its children, and its text (the concatenation of its text nodes). */
export interface XmlElement {
  /** Local name (a namespace prefix is dropped). */
  name: string;
  /** Child elements in document order. */
  children: XmlElement[];
  /** Decoded text directly inside the element. */
  text: string;
}

/** Thrown for a document that is not well-formed or exceeds the bounds. */
export class XmlError extends Error {
  /** Build one with `message`. */
  constructor(message: string) {
    super(`XML: ${message}`);
    this.name = "XmlError";
  }
}

/** Deepest nesting accepted: S3's documents have four levels. */
export const MAX_DEPTH = 16;
/** Most elements accepted in one document (a page of 1 000 versions has about 10 000). */
export const MAX_ELEMENTS = 200_000;

const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/**
 * Decodes the predefined and numeric entities of a text; anything else is an error.
 *
 * @example
 * ```ts
 * import { decodeEntities } from "./_xml.ts";
 * decodeEntities("a&amp;b&#x3C;&#233;"); // "a&b<é"
 * ```
 */
export function decodeEntities(raw: string): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(/&([^;]{0,10});?/g, (all, ref: string) => {
    if (!all.endsWith(";")) throw new XmlError(`unterminated entity ${JSON.stringify(all.slice(0, 12))}`);
    if (ref in NAMED) return NAMED[ref];
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    const code = m ? parseInt(m[1] ?? m[2], m[1] ? 16 : 10) : NaN;
    if (!(code > 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) {
      throw new XmlError(`unknown entity &${ref};`);
    }
    return String.fromCodePoint(code);
  });
}

const localName = (qname: string) => qname.slice(qname.indexOf(":") + 1);

/**
 * Parses a document into its root element.
 *
 * @example
 * ```ts
 * import { parseXml } from "./_xml.ts";
 * parseXml('<?xml version="1.0"?><a><b>x</b></a>').children[0].text; // "x"
 * ```
 */
export function parseXml(doc: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let count = 0;
  let i = 0;
  const n = doc.length;
  while (i < n) {
    const lt = doc.indexOf("<", i);
    const end = lt < 0 ? n : lt;
    if (end > i) {
      const raw = doc.slice(i, end);
      if (stack.length) stack[stack.length - 1].text += decodeEntities(raw);
      else if (raw.trim()) throw new XmlError("text outside the root element");
    }
    if (lt < 0) break;
    if (doc.startsWith("<?", lt)) {
      const close = doc.indexOf("?>", lt + 2);
      if (close < 0) throw new XmlError("unterminated processing instruction");
      i = close + 2;
    } else if (doc.startsWith("<!--", lt)) {
      const close = doc.indexOf("-->", lt + 4);
      if (close < 0) throw new XmlError("unterminated comment");
      i = close + 3;
    } else if (doc.startsWith("<![CDATA[", lt)) {
      const close = doc.indexOf("]]>", lt + 9);
      if (close < 0 || !stack.length) throw new XmlError("misplaced or unterminated CDATA section");
      stack[stack.length - 1].text += doc.slice(lt + 9, close);
      i = close + 3;
    } else if (doc.startsWith("<!", lt)) {
      throw new XmlError("document type declarations are not accepted");
    } else if (doc.startsWith("</", lt)) {
      const close = doc.indexOf(">", lt + 2);
      if (close < 0) throw new XmlError("unterminated end tag");
      const name = localName(doc.slice(lt + 2, close).trim());
      const open = stack.pop();
      if (!open || open.name !== name) throw new XmlError(`unexpected end tag </${name.slice(0, 64)}>`);
      i = close + 1;
    } else {
      const close = doc.indexOf(">", lt + 1);
      if (close < 0) throw new XmlError("unterminated start tag");
      const selfClosing = doc[close - 1] === "/";
      const body = doc.slice(lt + 1, selfClosing ? close - 1 : close);
      const m = /^([A-Za-z_][\w.:-]*)(?:\s[^<]*)?$/.exec(body);
      if (!m) throw new XmlError(`bad start tag <${body.slice(0, 64)}>`);
      if (root && !stack.length) throw new XmlError("more than one root element");
      if (stack.length >= MAX_DEPTH) throw new XmlError(`nested deeper than ${MAX_DEPTH}`);
      if (++count > MAX_ELEMENTS) throw new XmlError(`more than ${MAX_ELEMENTS} elements`);
      const element: XmlElement = { name: localName(m[1]), children: [], text: "" };
      if (stack.length) stack[stack.length - 1].children.push(element);
      else root = element;
      if (!selfClosing) stack.push(element);
      i = close + 1;
    }
  }
  if (stack.length) throw new XmlError(`unterminated element <${stack[stack.length - 1].name.slice(0, 64)}>`);
  if (!root) throw new XmlError("no root element");
  return root;
}

/**
 * The first child named `name`, if any.
 *
 * @example
 * ```ts
 * import { child, parseXml } from "./_xml.ts";
 * child(parseXml("<a><b/></a>"), "b")?.name; // "b"
 * ```
 */
export function child(element: XmlElement | undefined, name: string): XmlElement | undefined {
  return element?.children.find((c) => c.name === name);
}

/**
 * Every child named `name`.
 *
 * @example
 * ```ts
 * import { children, parseXml } from "./_xml.ts";
 * children(parseXml("<a><b/><c/><b/></a>"), "b").length; // 2
 * ```
 */
export function children(element: XmlElement | undefined, name: string): XmlElement[] {
  return element?.children.filter((c) => c.name === name) ?? [];
}

/**
 * The text of an element, or undefined when the element is absent.
 *
 * @example
 * ```ts
 * import { parseXml, text } from "./_xml.ts";
 * text(parseXml("<a>x &amp; y</a>")); // "x & y"
 * ```
 */
export function text(element: XmlElement | undefined): string | undefined {
  return element?.text;
}
