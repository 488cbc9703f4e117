import { Body, Controller, Headers, HttpCode, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ClientLogin } from './client-login.service';
import { Public } from './public.decorator';
import { TokenService } from './token.service';

interface TokenRequest {
  grant_type?: string;
  client_id?: string;
  client_secret?: string;
  scope?: string;
}

/** OAuth2 token endpoint (client credentials grant, RFC 6749 §4.4); errors follow RFC 6749 §5.2. */
@Controller('auth')
export class TokenController {
  constructor(
    private readonly logins: ClientLogin,
    private readonly tokens: TokenService,
  ) {}

  @Public()
  @Post('token')
  @HttpCode(200)
  async token(@Body() body: TokenRequest | undefined, @Headers('authorization') authorization: string | undefined, @Res() res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    const form = body && typeof body === 'object' ? body : {};
    if (!res.req.is('application/x-www-form-urlencoded')) {
      res.status(400).json({ error: 'invalid_request', error_description: 'The token request must be application/x-www-form-urlencoded' });
      return;
    }
    if (form.grant_type !== 'client_credentials') {
      res.status(400).json({ error: 'unsupported_grant_type', error_description: 'Only grant_type=client_credentials is supported' });
      return;
    }
    let clientId = form.client_id;
    let secret = form.client_secret;
    const basic = authorization ? /^Basic\s+(\S+)$/i.exec(authorization) : null;
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const sep = decoded.indexOf(':');
      if (sep > 0) {
        clientId = decodeURIComponent(decoded.slice(0, sep));
        secret = decodeURIComponent(decoded.slice(sep + 1));
      }
    }
    const login = typeof clientId === 'string' && typeof secret === 'string' ? await this.logins.login(clientId, secret) : undefined;
    if (login && 'refused' in login && login.refused === 'locked') {
      res.status(429).setHeader('Retry-After', String(login.retryAfter));
      res.json({ error: 'invalid_client', error_description: `Too many failed sign-ins for this client id: try again in ${login.retryAfter} s` });
      return;
    }
    const client = login && 'client' in login ? login.client : undefined;
    if (!client) {
      res.status(401).setHeader('WWW-Authenticate', 'Basic realm="fhir-ai-server"');
      res.json({ error: 'invalid_client', error_description: 'Unknown client or wrong secret' });
      return;
    }
    const scopes = this.tokens.grantScopes(client, form.scope);
    if (!scopes.length) {
      res.status(400).json({ error: 'invalid_scope', error_description: 'None of the requested scopes is allowed for this client' });
      return;
    }
    const { token, expiresIn } = await this.tokens.issue(client, scopes);
    res.json({
      access_token: token,
      token_type: 'Bearer',
      expires_in: expiresIn,
      scope: scopes.join(' '),
      ...(client.patientId ? { patient: client.patientId } : {}),
    });
  }
}
