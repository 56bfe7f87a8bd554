// Parses JUnit XML with a real XML parser (Python's ElementTree), so the tests judge well-formedness by a reader
// other than the code that wrote it, and returns the structure as JSON.

import { spawnSync } from 'node:child_process';

export interface JunitCase {
  name: string;
  classname: string;
  time: string;
  failure: { message: string; text: string } | null;
  skipped: { message: string } | null;
  out: string | null;
}

export interface JunitSuite {
  attrs: Record<string, string>;
  properties: Record<string, string>;
  cases: JunitCase[];
}

export interface Junit {
  root: string;
  attrs: Record<string, string>;
  suites: JunitSuite[];
}

const SCRIPT = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
def case(c):
    f = c.find('failure'); s = c.find('skipped'); o = c.find('system-out')
    return {'name': c.get('name'), 'classname': c.get('classname'), 'time': c.get('time'),
            'failure': None if f is None else {'message': f.get('message'), 'text': f.text or ''},
            'skipped': None if s is None else {'message': s.get('message')},
            'out': None if o is None else (o.text or '')}
print(json.dumps({'root': root.tag, 'attrs': dict(root.attrib), 'suites': [
    {'attrs': dict(s.attrib), 'properties': {p.get('name'): p.get('value') for p in s.iter('property')},
     'cases': [case(c) for c in s.findall('testcase')]} for s in root.findall('testsuite')]}))
`;

export function parseJunit(xml: string): Junit {
  const r = spawnSync('python3', ['-c', SCRIPT], { input: xml, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`not well-formed XML: ${r.stderr}`);
  return JSON.parse(r.stdout) as Junit;
}
