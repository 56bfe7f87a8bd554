// The records Noon's side keeps, as the sandbox models them (field names here are ours; wire names stay Noon's).

export interface Project {
  code: string;
  name: string;
  kind: 'integrator' | 'seller';
}

export interface ServiceAccount {
  userCode: string;
  channelIdentifier: string;
  /** The project that owns (and may manage) this account through the API User Service (NC36). */
  ownerProject: string;
  /** Projects a session of this account may act in (`default_project_code`, NC10). */
  projects: string[];
  name: string;
  createdAt: number;
  origin: 'fixture' | 'oauth' | 'admin';
  /** For accounts made by an exchange: the client and seller project it serves (NC33 reuses it). */
  clientId?: string;
  sellerProject?: string;
}

export interface AccountKey {
  keyId: string;
  userCode: string;
  /** SPKI PEM; the private key is never kept (NC31). */
  publicKeyPem: string;
  fingerprint: string;
  issuedAt: number;
  active: boolean;
  deactivatedAt?: number;
}

export interface OAuthClient {
  clientId: string;
  /** SHA-256 of the secret, hex; compared in constant time (NC27). */
  secretHash: string;
  name: string;
  projectCode: string;
  redirectUris: string[];
  permission: string;
}

export interface Seller {
  email: string;
  password: string;
  name: string;
  projects: string[];
}

export interface GatewaySession {
  id: string;
  refreshId: string;
  userCode: string;
  keyId: string;
  projectCode: string;
  createdAt: number;
  expiresAt: number;
  endedAt?: number;
}

export interface AuthCode {
  /** SHA-256 of the code, hex. */
  hash: string;
  clientId: string;
  sellerProject: string;
  sellerEmail: string;
  redirectUri: string;
  oauthRequestId: string;
  createdAt: number;
  expiresAt: number;
  usedAt?: number;
  accessTokenJti?: string;
}

export interface AccessTokenRecord {
  jti: string;
  clientId: string;
  integratorProject: string;
  sellerProject: string;
  oauthRequestId: string;
  createdAt: number;
  expiresAt: number;
  usedAt?: number;
  revokedAt?: number;
  /**
   * The first exchange answer, kept only while the exchange-replay switch is on (an open question, §7): it holds
   * the private key, which is exactly what a replay must hand back.
   */
  replayBody?: string;
  /** The ledger entry the kept answer delivers, so a replay that gets through marks it delivered. */
  replayLedgerSeq?: number;
}

export type OAuthRequestStatus =
  | 'AUTHORIZED'
  | 'DENIED'
  | 'TOKEN_ISSUED'
  | 'COMPLETED'
  | 'FAILED'
  | 'REVOKED';

export interface OAuthRequest {
  id: string;
  clientId: string;
  sellerProject: string;
  integratorProject: string;
  status: OAuthRequestStatus;
  createdAt: number;
  updatedAt: number;
  userCode?: string;
  keyId?: string;
  failure?: string;
}

/** One credential the sandbox issued, and whether its response reached the client. */
export interface LedgerEntry {
  seq: number;
  keyId: string;
  userCode: string;
  channelIdentifier: string;
  ownerProject: string;
  sellerProject?: string;
  fingerprint: string;
  issuedAt: number;
  via: 'fixture' | 'exchange' | 'api_users.create' | 'admin';
  delivered: boolean;
  oauthRequestId?: string;
  removedAt?: number;
}

export interface KeyFile {
  key_id: string;
  private_key: string;
  channel_identifier: string;
  project_code: string;
  type: 'apijwt';
  issued_at: string;
}

export const MAX_KEYS_PER_ACCOUNT = 5;
export const CODE_TTL_MS = 10 * 60_000;
export const ACCESS_TOKEN_TTL_MS = 60 * 60_000;
export const SESSION_TTL_MS = 30 * 24 * 3600_000;
